//! The diesel schema, declared once for both backends. The tables and
//! columns are the same; only the SQL type of time-zone-aware timestamps
//! differs (`Timestamptz` on PostgreSQL, `TimestamptzSqlite` on SQLite).

macro_rules! qaboard_schema {
    ($tz:ident) => {
        diesel::table! {
            use diesel::sql_types::*;

            projects (id) {
                id -> Text,
                data -> Jsonb,
                latest_output_datetime -> Nullable<Timestamp>,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;

            ci_commits (id) {
                id -> Integer,
                hexsha -> Text,
                project_id -> Nullable<Text>,
                data -> Jsonb,
                authored_datetime -> Nullable<$tz>,
                committer_name -> Nullable<Text>,
                message -> Nullable<Text>,
                branch -> Nullable<Text>,
                parents -> Nullable<Jsonb>,
                commit_dir_override -> Nullable<Text>,
                commit_type -> Nullable<Text>,
                latest_output_datetime -> Nullable<$tz>,
                deleted -> Bool,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;

            batches (id) {
                id -> Integer,
                created_date -> Timestamp,
                data -> Jsonb,
                ci_commit_id -> Nullable<Integer>,
                label -> Nullable<Text>,
                batch_dir_override -> Nullable<Text>,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;

            test_inputs (id) {
                id -> Integer,
                path -> Text,
                database -> Text,
                data -> Jsonb,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;

            outputs (id) {
                id -> Integer,
                batch_id -> Nullable<Integer>,
                created_date -> Nullable<Timestamp>,
                deleted -> Bool,
                output_dir_override -> Nullable<Text>,
                output_type -> Nullable<Text>,
                test_input_id -> Nullable<Integer>,
                platform -> Nullable<Text>,
                configurations -> Jsonb,
                extra_parameters -> Jsonb,
                is_pending -> Bool,
                is_running -> Bool,
                is_failed -> Bool,
                metrics -> Jsonb,
                data -> Jsonb,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;

            users (id) {
                id -> Integer,
                created_date -> Timestamp,
                user_name -> Nullable<Text>,
                full_name -> Nullable<Text>,
                email -> Nullable<Text>,
                password -> Nullable<Text>,
                is_ldap -> Bool,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;

            sessions (id_hash) {
                id_hash -> Text,
                user_id -> Integer,
                created -> Timestamp,
                expires -> Timestamp,
                last_seen -> Timestamp,
            }
        }

        diesel::joinable!(sessions -> users (user_id));
        diesel::allow_tables_to_appear_in_same_query!(sessions, users);

        diesel::joinable!(ci_commits -> projects (project_id));
        diesel::joinable!(batches -> ci_commits (ci_commit_id));
        diesel::joinable!(outputs -> batches (batch_id));
        diesel::joinable!(outputs -> test_inputs (test_input_id));

        diesel::allow_tables_to_appear_in_same_query!(
            projects,
            ci_commits,
            batches,
            test_inputs,
            outputs,
            users
        );
    };
}

/// PostgreSQL.
#[cfg(feature = "postgres")]
pub mod pg {
    qaboard_schema!(Timestamptz);
}

/// SQLite.
#[cfg(feature = "sqlite")]
pub mod sqlite {
    qaboard_schema!(TimestamptzSqlite);
}
