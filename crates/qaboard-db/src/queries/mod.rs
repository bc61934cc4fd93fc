//! The query code shared by both backends, written once. This folder is
//! mounted twice with `#[path]`: as `backend::pg::queries` and as
//! `backend::sqlite::queries`. In each, `Conn` is that backend's connection,
//! the schema's tables are in scope (through `prelude`), and the backend
//! module's macros are too: `for_update!(q)` locks rows on PostgreSQL
//! (SQLite's write transactions are exclusive), `json_text!` reads a JSON
//! column as its text, `single_writer!()` holds SQLite's writer lock.
//!
//! One file per entity; functions here assume the caller opened a
//! transaction when they write (see `dispatch_tx!`).

/// What every query file uses.
mod prelude {
    pub(crate) use super::super::tables::*;
    pub(crate) use super::super::{Conn, IS_POSTGRES, OUTPUT_IDENTITY};
    pub(crate) use super::{like_prefix, now_naive, CommitStamp, MaxAuthored};
    pub(crate) use crate::ingest::{
        BatchRecord, CommitEnvelope, OutputPatch, OutputRecord, OutputWithInput,
    };
    pub(crate) use crate::json::Json;
    pub(crate) use crate::read::{
        BatchWithOutputs, CommitTree, CommitWindow, OutputRead, ProjectSummary,
    };
    pub(crate) use crate::rows::{BatchRow, CommitRow, OutputRow, ProjectRow, TestInputRow};
    pub(crate) use crate::DbError;
    pub(crate) use chrono::{NaiveDateTime, Utc};
    pub(crate) use diesel::prelude::*;
    pub(crate) use qaboard_model::rules;
    pub(crate) use qaboard_model::CommitId;
    pub(crate) use serde_json::{Map, Value};
}

use super::TzType;
use chrono::{NaiveDateTime, Utc};

macro_rules! commit_cols {
    () => {
        (
            ci_commits::id,
            ci_commits::hexsha,
            ci_commits::project_id,
            ci_commits::data,
            ci_commits::authored_datetime,
            ci_commits::committer_name,
            ci_commits::message,
            ci_commits::branch,
            ci_commits::parents,
            ci_commits::commit_dir_override,
            ci_commits::commit_type,
            ci_commits::latest_output_datetime,
            ci_commits::deleted,
        )
    };
}

macro_rules! batch_cols {
    () => {
        (
            batches::id,
            batches::created_date,
            batches::data,
            batches::ci_commit_id,
            batches::label,
            batches::batch_dir_override,
        )
    };
}

macro_rules! output_cols {
    () => {
        (
            outputs::id,
            outputs::batch_id,
            outputs::created_date,
            outputs::deleted,
            outputs::output_dir_override,
            outputs::output_type,
            outputs::test_input_id,
            outputs::platform,
            outputs::configurations,
            outputs::extra_parameters,
            outputs::is_pending,
            outputs::is_running,
            outputs::is_failed,
            outputs::metrics,
            outputs::data,
        )
    };
}

/// The columns of an `OutputRead` row (an output joined with its test
/// input, JSON columns as stored text), for `outputs LEFT JOIN test_inputs`.
macro_rules! output_read_cols {
    () => {
        (
            outputs::id,
            outputs::batch_id,
            outputs::created_date,
            outputs::deleted,
            outputs::output_dir_override,
            outputs::output_type,
            outputs::platform,
            outputs::is_pending,
            outputs::is_running,
            outputs::is_failed,
            json_text!(outputs::configurations, "outputs.configurations"),
            json_text!(outputs::extra_parameters, "outputs.extra_parameters"),
            json_text!(outputs::metrics, "outputs.metrics"),
            json_text!(outputs::data, "outputs.data"),
            test_inputs::database.nullable(),
            test_inputs::path.nullable(),
            input_metadata_text!(),
        )
    };
}

macro_rules! input_cols {
    () => {
        (
            test_inputs::id,
            test_inputs::path,
            test_inputs::database,
            test_inputs::data,
        )
    };
}

/// A fixed SQL expression over `ci_commits` that diesel's DSL cannot write,
/// as a type with a static query id (unlike `dsl::sql`), so that the
/// statements using it are prepared once per connection. Usable in any query
/// whose FROM clause holds `ci_commits` once (joins included); its grouping
/// (`ValidGrouping`) is given beside each.
macro_rules! commit_expression {
    ($(#[$doc:meta])* $name:ident = $sql:literal: $st:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
        pub(crate) struct $name;

        impl diesel::expression::Expression for $name {
            type SqlType = $st;
        }

        impl<DB: diesel::backend::Backend> diesel::query_builder::QueryFragment<DB> for $name {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
            ) -> diesel::QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }

        impl<QS> diesel::expression::AppearsOnTable<QS> for $name where
            QS: diesel::query_source::AppearsInFromClause<
                super::tables::ci_commits::table,
                Count = diesel::query_source::Once,
            >
        {
        }

        impl<QS> diesel::expression::SelectableExpression<QS> for $name where
            QS: diesel::query_source::AppearsInFromClause<
                super::tables::ci_commits::table,
                Count = diesel::query_source::Once,
            >
        {
        }
    };
}

commit_expression!(
    /// `max(authored_datetime)`: diesel's `max` needs an ordered SQL type,
    /// which SQLite's time-zone-aware timestamp is not (its ISO text in UTC
    /// orders fine).
    MaxAuthored = "max(ci_commits.authored_datetime)": diesel::sql_types::Nullable<TzType>
);

/// An aggregate: valid with any `GROUP BY`.
impl<GB> diesel::expression::ValidGrouping<GB> for MaxAuthored {
    type IsAggregate = diesel::expression::is_aggregate::Yes;
}

commit_expression!(
    /// A commit's change stamp (not in the diesel schema: only version
    /// queries read it; docs/read-performance.md).
    CommitStamp = "ci_commits.stamp": diesel::sql_types::Nullable<diesel::sql_types::BigInt>
);

/// A column outside any `GROUP BY`: only in ungrouped queries.
impl diesel::expression::ValidGrouping<()> for CommitStamp {
    type IsAggregate = diesel::expression::is_aggregate::No;
}

pub(crate) fn now_naive() -> NaiveDateTime {
    Utc::now().naive_utc()
}

pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

// First, with its macros (`window_filter!`, `in_window!`): the list's
// version (`stamps`) selects the window's commits with them too.
#[macro_use]
pub(crate) mod window;

pub(crate) mod action;
pub(crate) mod batch;
pub(crate) mod commit;
pub(crate) mod gc;
pub(crate) mod jobs;
pub(crate) mod operations;
pub(crate) mod output;
pub(crate) mod project;
pub(crate) mod stamps;
pub(crate) mod test_input;
pub(crate) mod tree;
pub(crate) mod user;
pub(crate) mod webhook;
