//! The one decoder of JSON columns, for both backends (see
//! `docs/robustness.md`, "JSON numbers").
//!
//! Every JSON column read as a `serde_json::Value` goes through [`Json`]:
//! PostgreSQL sends `jsonb` as its text (after a version byte), SQLite's
//! JSONB blob is first written as JSON text by [`crate::sqlite_jsonb`]; both
//! texts are then parsed by [`parse`], the same `serde_json` parser that
//! parsed the request bodies the values came from. So whatever the server
//! accepted and wrote, it reads back.
//!
//! Why not diesel's own decoders: on SQLite, diesel 2.3 refuses a JSONB
//! integer that does not fit `i64` (`18446744073709551615`, any integer
//! beyond) with "Failed to parse JSONB integer", although its own writer
//! stores such integers; the row was written and every later read of it
//! failed. On PostgreSQL diesel's decoder is the same `serde_json` parse
//! this module does, kept here so that both backends share one rule.
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::sql_types::Jsonb;
use serde_json::Value;

/// A JSON column's value, decoded by [`parse`]. Select into it (or name it
/// with `#[diesel(deserialize_as = Json)]`) wherever a `Value` is read.
#[derive(Debug, Clone, PartialEq, FromSqlRow)]
pub struct Json(pub Value);

impl From<Json> for Value {
    fn from(j: Json) -> Value {
        j.0
    }
}

/// Parses JSON text as stored by either backend. Numbers: integers that fit
/// `i64` or `u64` are exact; every other number (larger integers, fractions,
/// exponents) is the nearest IEEE-754 double, as in the request parser, so a
/// stored value reads back equal to the value written. Errors (a number
/// beyond the double range such as `1e400`, only possible in data not
/// written by this server) name the problem.
pub fn parse(text: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(text)
}

/// Parses `text`, the JSON text of one stored value, for [`Json`].
fn decode(text: &[u8]) -> deserialize::Result<Json> {
    parse(text)
        .map(Json)
        .map_err(|e| format!("a stored JSON value cannot be read: {e}").into())
}

#[cfg(feature = "postgres")]
impl FromSql<Jsonb, diesel::pg::Pg> for Json {
    fn from_sql(value: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        match value.as_bytes().split_first() {
            Some((1, text)) => decode(text),
            Some((v, _)) => Err(format!("unsupported jsonb encoding version {v}").into()),
            None => Err("empty jsonb value".into()),
        }
    }
}

#[cfg(feature = "sqlite")]
impl FromSql<Jsonb, diesel::sqlite::Sqlite> for Json {
    fn from_sql(mut value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let blob = value.read_blob();
        match crate::sqlite_jsonb::to_json_text(blob) {
            Some(text) => decode(text.as_bytes()),
            // JSON5 forms and what the text writer does not handle: SQLite's
            // JSON5 elements come only from SQL written by hand, not from us.
            None => <Value as FromSql<Jsonb, diesel::sqlite::Sqlite>>::from_sql(value).map(Json),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_as_the_request_parser_does() {
        for text in [
            "18446744073709551615",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "5e-324",
            "1e308",
            "-0.0",
            "1E+2",
            // How PostgreSQL prints 1e308 and 5e-324 (numeric, all digits).
            &format!("1{}", "0".repeat(308)),
            &format!("0.{}5", "0".repeat(323)),
        ] {
            let from_request: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse(text.as_bytes()).unwrap(), from_request, "{text}");
        }
        assert!(parse(b"1e400").is_err());
    }

    /// The root cause on SQLite: diesel 2.3 writes an integer beyond `i64`
    /// into JSONB but its decoder refuses it; ours reads it. If diesel's
    /// decoder starts accepting it, this test says so (the workaround can
    /// then go).
    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_integers_beyond_i64_read_back_through_this_decoder_only() {
        use diesel::prelude::*;
        use diesel::sql_types::Jsonb;
        let mut c = SqliteConnection::establish(":memory:").unwrap();
        let v: Value = serde_json::from_str(r#"{"crc64": 18446744073709551615}"#).unwrap();
        let ours: Json = diesel::select(diesel::dsl::sql::<Jsonb>("").bind::<Jsonb, _>(&v))
            .get_result(&mut c)
            .unwrap();
        assert_eq!(ours.0, v);
        let diesels: QueryResult<Value> =
            diesel::select(diesel::dsl::sql::<Jsonb>("").bind::<Jsonb, _>(&v)).get_result(&mut c);
        assert!(
            diesels.is_err(),
            "diesel's decoder reads it now: {diesels:?}"
        );
    }
}
