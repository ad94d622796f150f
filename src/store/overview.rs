//! Read-only statements for the operator's overview (status page), written once for both
//! stores. `$n` placeholders and plain SQL that SQLite and PostgreSQL share. [`overview_statements!`]
//! expands to a module `overview` of async functions over one backend's connection type (a macro
//! for the reason given in `rows.rs`).

macro_rules! overview_statements {
    ($db:ty) => {
        mod overview {
            use sqlx::Row;

            use super::{export_from_row, group_folder_from_row, job_from_row};
            use $crate::store::rows::{from_ms, now_ms};
            use $crate::store::{ExportSummary, GroupFolderSummary, Job, StoreResult};

            type Conn = <$db as sqlx::Database>::Connection;

            pub(crate) async fn oldest_due_job(c: &mut Conn) -> StoreResult<Option<Job>> {
                let row = sqlx::query(
                    "SELECT * FROM jobs WHERE state IN ('queued', 'failed') AND run_at <= $1
                     ORDER BY run_at, id LIMIT 1",
                )
                .bind(now_ms())
                .fetch_optional(&mut *c)
                .await?;
                row.as_ref().map(job_from_row).transpose()
            }

            pub(crate) async fn group_folder_summaries(
                c: &mut Conn,
            ) -> StoreResult<Vec<GroupFolderSummary>> {
                let rows = sqlx::query(
                    "SELECT g.*, (SELECT COUNT(*) FROM group_members_added m
                                  WHERE m.group_id = g.group_id) AS members
                     FROM group_folders g ORDER BY LOWER(g.group_name), g.group_id",
                )
                .fetch_all(&mut *c)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(GroupFolderSummary {
                            folder: group_folder_from_row(r)?,
                            members: r.try_get("members")?,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn latest_exports(
                c: &mut Conn,
                limit: u32,
            ) -> StoreResult<Vec<ExportSummary>> {
                let rows =
                    sqlx::query("SELECT * FROM exports ORDER BY updated_at DESC, file_id LIMIT $1")
                        .bind(i64::from(limit))
                        .fetch_all(&mut *c)
                        .await?;
                rows.iter()
                    .map(|r| {
                        Ok(ExportSummary {
                            record: export_from_row(r)?,
                            exported_at: from_ms(r.try_get("updated_at")?),
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use overview_statements;
