//! Usage sums in SQL that stop at bigint's bounds instead of failing with an
//! overflow (`22003`). A counter or rollup row at the maximum (an upstream's absurd
//! report recorded before the gateway bounded them, or a long life at a price
//! nobody meant) would otherwise fail every later batch that adds to it, and every
//! read that sums it. Written out in each statement, not as a database function,
//! so the projectors need nothing a migration made.

/// `column = <row>.column + EXCLUDED.column` of an upsert, held inside bigint.
pub(crate) fn add_excluded(row: &str, column: &str) -> String {
    format!(
        "{column} = CASE WHEN EXCLUDED.{column} >= 0 \
           THEN LEAST({row}.{column}, 9223372036854775807 - EXCLUDED.{column}) + EXCLUDED.{column} \
           ELSE GREATEST({row}.{column}, (-9223372036854775807 - 1) - EXCLUDED.{column}) + EXCLUDED.{column} END"
    )
}

/// The upsert assignments of [`add_excluded`] for each column, comma-separated.
pub(crate) fn add_all_excluded(row: &str, columns: &[&str]) -> String {
    columns.iter().map(|column| add_excluded(row, column)).collect::<Vec<_>>().join(", ")
}

/// `sum(expression)` as a bigint, held at bigint's bounds (`sum` of bigints is a
/// numeric, which a plain cast would refuse past them).
pub(crate) fn sum(expression: &str) -> String {
    format!("LEAST(GREATEST(sum({expression}), -9223372036854775808), 9223372036854775807)::bigint")
}
