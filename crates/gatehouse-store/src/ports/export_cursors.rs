//! `ExportCursorStore` over any [`Dialect`]: one row per (sink, chain), moved forward only; a
//! stop is written with its security event in one transaction.

use gatehouse_core::audit::Chain;
use gatehouse_core::audit::chain::GENESIS;

use super::prelude::*;

const SELECT: &str =
    "SELECT seq, hash, stopped_seq FROM audit_export_cursors WHERE sink = $1 AND chain = $2";
const ADVANCE: &str = "INSERT INTO audit_export_cursors (sink, chain, seq, hash, updated_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sink, chain) DO UPDATE \
     SET seq = excluded.seq, hash = excluded.hash, updated_at = excluded.updated_at \
     WHERE audit_export_cursors.seq < excluded.seq";
const STOP: &str = "INSERT INTO audit_export_cursors \
     (sink, chain, seq, hash, stopped_seq, updated_at) VALUES ($1, $2, 0, $3, $4, $5) \
     ON CONFLICT (sink, chain) DO UPDATE \
     SET stopped_seq = excluded.stopped_seq, updated_at = excluded.updated_at";

#[async_trait]
impl<D: Dialect> ExportCursorStore for SqlStore<D>
where
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i32: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Decode<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + ColumnIndex<DbRow<D>>,
    usize: ColumnIndex<DbRow<D>>,
    for<'q> &'q [u8]: Encode<'q, D::Db>,
    str: Type<D::Db>,
    [u8]: Type<D::Db>,
{
    async fn export_cursor(&self, sink: &str, chain: Chain) -> Result<Option<ExportCursor>> {
        let row: Option<(i64, String, Option<i64>)> = sqlx::query_as(SELECT)
            .bind(sink.to_owned())
            .bind(chain.name())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(|(seq, hash, stopped_seq)| ExportCursor {
            seq,
            hash,
            stopped_seq,
        }))
    }

    async fn record_exported(
        &self,
        sink: &str,
        chain: Chain,
        seq: i64,
        hash: &str,
        at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(ADVANCE)
            .bind(sink.to_owned())
            .bind(chain.name())
            .bind(seq)
            .bind(hash.to_owned())
            .bind(unix(at))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn record_export_stopped(
        &self,
        sink: &str,
        chain: Chain,
        bad_seq: i64,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(STOP)
            .bind(sink.to_owned())
            .bind(chain.name())
            .bind(GENESIS.to_owned())
            .bind(bad_seq)
            .bind(unix(at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}
