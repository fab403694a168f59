//! Gemini thought signatures carried through OpenAI tool-call ids.
//!
//! Gemini 3 answers a function call with a `thoughtSignature` on the `functionCall`
//! part and refuses (400) the next turn if that part comes back without it. OpenAI
//! clients keep nothing of a tool call but its `id`, `name` and `arguments`, and every
//! one of them echoes the id, so the signature rides in the id:
//!
//! `call_<32 hex>__ts_<signature bytes in unpadded base64url>`
//!
//! base64url keeps the id within `[A-Za-z0-9_-]` (what Anthropic's `tool_use.id`
//! accepts, so the same id also survives the `/v1/messages` ingress). Ids are bounded
//! by [`MAX_ID_LEN`]: a longer signature is not carried, and the next request falls
//! back to Google's documented placeholder (see `request.rs`). Ids in LiteLLM's form
//! (`<id>__thought__<base64url of the signature text>`) are read too, so histories made
//! through LiteLLM keep working after a switch to GaiaRouter.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Separates the random part of an id from the signature it carries.
const MARKER: &str = "__ts_";
/// LiteLLM's separator (`THOUGHT_SIGNATURE_SEPARATOR` in its prompt templates).
const LITELLM_MARKER: &str = "__thought__";
/// Longest tool-call id GaiaRouter mints or reads a signature from. Real signatures are
/// a few hundred bytes to a few KiB; this leaves room while keeping ids storable.
pub(crate) const MAX_ID_LEN: usize = crate::gateway::openai::MAX_TOOL_CALL_ID_LEN;
/// Google's documented placeholder for a function call whose signature is unknown
/// (history from another model, a client that rewrote ids): the validator skips it.
pub(crate) const SKIP_VALIDATOR: &str = "skip_thought_signature_validator";

/// Signatures are protobuf `bytes`: standard base64 in JSON, accepted with or without
/// padding.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const URL_SAFE_UNPADDED: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A fresh OpenAI tool-call id, carrying `signature` when there is one that fits.
pub(crate) fn tool_call_id(signature: Option<&str>) -> String {
    let id = format!("call_{}", uuid::Uuid::now_v7().simple());
    let Some(signature) = signature else {
        return id;
    };
    let Ok(bytes) = LENIENT_STANDARD.decode(signature) else {
        tracing::warn!(len = signature.len(), "Gemini sent a thought signature that is not base64; not carried");
        return id;
    };
    let carried = format!("{id}{MARKER}{}", URL_SAFE_UNPADDED.encode(bytes));
    if carried.len() > MAX_ID_LEN {
        tracing::warn!(len = signature.len(), "Gemini thought signature too long to carry in a tool-call id");
        return id;
    }
    carried
}

/// The thought signature a tool-call id carries, as Gemini expects it back.
pub(crate) fn signature_of(id: &str) -> Option<String> {
    if id.len() > MAX_ID_LEN {
        return None;
    }
    if let Some((_, carried)) = id.split_once(MARKER) {
        let bytes = URL_SAFE_UNPADDED.decode(carried).ok().filter(|bytes| !bytes.is_empty())?;
        return Some(STANDARD.encode(bytes));
    }
    let (_, carried) = id.split_once(LITELLM_MARKER)?;
    let text = URL_SAFE_UNPADDED.decode(carried).ok()?;
    String::from_utf8(text).ok().filter(|signature| !signature.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_round_trips_through_an_id_made_of_safe_characters() {
        let signature = "CiQBjz1rX+/w8yZ9Abc/+dE=";
        let id = tool_call_id(Some(signature));
        assert!(id.starts_with("call_"));
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{id}");
        assert_eq!(signature_of(&id).as_deref(), Some(signature));
    }

    #[test]
    fn ids_without_a_signature_carry_none() {
        let id = tool_call_id(None);
        assert_eq!(id.len(), "call_".len() + 32);
        assert_eq!(signature_of(&id), None);
        assert_eq!(signature_of("call_abc"), None);
        assert_eq!(signature_of("call_abc__ts_"), None);
        assert_eq!(signature_of("call_abc__ts_!!!"), None);
    }

    #[test]
    fn oversized_or_undecodable_signatures_are_not_carried() {
        let huge = STANDARD.encode(vec![7u8; MAX_ID_LEN]);
        assert_eq!(signature_of(&tool_call_id(Some(&huge))), None);
        assert_eq!(signature_of(&tool_call_id(Some("not base64 at all"))), None);
        assert_eq!(signature_of(&format!("call_x{MARKER}{}", "A".repeat(MAX_ID_LEN))), None);
    }

    #[test]
    fn litellm_style_ids_are_read() {
        let signature = "Co4CAdHtim/rWgXbz2Ghp4t=";
        let id = format!("call_abc{LITELLM_MARKER}{}", base64::engine::general_purpose::URL_SAFE.encode(signature));
        assert_eq!(signature_of(&id).as_deref(), Some(signature));
    }
}
