//! The model overrides file: extra ids and prices, USD amounts parsed from their
//! decimal text so no float ever touches money.

use gaiarouter_domain::Money;
use serde::Deserialize;
use serde_json::Value;

use super::{Price, RegistryError, ResolvedModel};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideEntry {
    pub id: String,
    pub provider: String,
    pub upstream_model: String,
    /// Both prices, or neither: a model without them is served at cost 0 and
    /// flagged (start-up warning, `priced: false` in the catalogue).
    #[serde(default)]
    pub input_per_million_usd: Option<Value>,
    #[serde(default)]
    pub output_per_million_usd: Option<Value>,
    #[serde(default)]
    pub cached_input_per_million_usd: Option<Value>,
}

pub(super) fn parse(json: &str) -> Result<Vec<OverrideEntry>, RegistryError> {
    serde_json::from_str(json)
        .map_err(|e| RegistryError::OverridesFile { path: "(inline)".into(), reason: e.to_string() })
}

impl OverrideEntry {
    pub(super) fn into_resolved(self) -> Result<ResolvedModel, RegistryError> {
        let invalid = |reason: String| RegistryError::InvalidOverride { id: self.id.clone(), reason };
        if self.id.trim().is_empty() || self.provider.trim().is_empty() || self.upstream_model.trim().is_empty() {
            return Err(invalid("id, provider and upstream_model must not be empty".into()));
        }
        let money = |field: &str, value: &Value| usd(value).map_err(|reason| invalid(format!("{field}: {reason}")));
        let (input, output, price_known) = match (&self.input_per_million_usd, &self.output_per_million_usd) {
            (Some(input), Some(output)) => {
                (money("input_per_million_usd", input)?, money("output_per_million_usd", output)?, true)
            }
            (None, None) if self.cached_input_per_million_usd.is_none() => (Money::ZERO, Money::ZERO, false),
            _ => return Err(invalid("give input_per_million_usd and output_per_million_usd together".into())),
        };
        let price = Price {
            input_per_million: input,
            output_per_million: output,
            cached_input_per_million: self
                .cached_input_per_million_usd
                .as_ref()
                .map(|v| money("cached_input_per_million_usd", v))
                .transpose()?,
            cache_write_per_million: None,
            cache_write_1h_per_million: None,
            web_search_per_thousand: None,
        };
        let provider = if self.provider == "gemini" { "google".to_owned() } else { self.provider.clone() };
        let price = price.for_provider(&provider);
        Ok(ResolvedModel {
            id: self.id.clone(),
            provider,
            upstream_model: self.upstream_model.clone(),
            price,
            price_known,
        })
    }
}

/// A USD amount given as `"2.50"` or `2.5`.
fn usd(value: &Value) -> Result<Money, String> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => plain_decimal(&number.to_string()).ok_or("is not a decimal number")?,
        _ => return Err("must be a decimal string or a number".into()),
    };
    Money::from_usd_decimal(&text).map_err(|e| e.to_string())
}

/// serde_json prints small numbers in exponent form (`1e-7`); `Money` wants digits.
/// Rewrites `1.5e-7` as `0.00000015` by moving the decimal point in the text.
fn plain_decimal(number: &str) -> Option<String> {
    let Some((mantissa, exponent)) = number.split_once(['e', 'E']) else {
        return Some(number.to_owned());
    };
    let exponent: i64 = exponent.parse().ok()?;
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let point = i64::try_from(whole.len()).ok()? + exponent;
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(usize::try_from(-point).ok()?))
    } else {
        let point = usize::try_from(point).ok()?;
        if point >= digits.len() {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    };
    Some(if negative { format!("-{text}") } else { text })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expands_exponent_notation_exactly() {
        assert_eq!(plain_decimal("1e-9").as_deref(), Some("0.000000001"));
        assert_eq!(plain_decimal("1.5e-7").as_deref(), Some("0.00000015"));
        assert_eq!(plain_decimal("2.5e3").as_deref(), Some("2500"));
        assert_eq!(plain_decimal("1.25E1").as_deref(), Some("12.5"));
        assert_eq!(plain_decimal("0.3").as_deref(), Some("0.3"));
    }

    #[test]
    fn usd_amounts_come_from_strings_or_numbers_without_float_error() {
        assert_eq!(usd(&json!("0.3")), Ok(Money::from_nanos(300_000_000)));
        assert_eq!(usd(&json!(0.3)), Ok(Money::from_nanos(300_000_000)));
        assert_eq!(usd(&json!(0.000000001)), Ok(Money::from_nanos(1)));
        assert_eq!(usd(&json!(15)), Ok(Money::from_nanos(15_000_000_000)));
        assert!(usd(&json!(-1)).is_err());
        assert!(usd(&json!("abc")).is_err());
        assert!(usd(&json!(true)).is_err());
    }
}
