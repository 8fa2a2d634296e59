//! The SQL text of the store's statements, per table, and the helpers that
//! build it: key-range bounds and identifier quoting.

use crate::store::Table;
#[cfg(test)]
use crate::store::prefix_upper_bound;

/// SQL text of the read statements of one table.
pub(super) struct ReadSql {
    pub(super) get: String,
    pub(super) get_many: String,
    pub(super) scan_bounded: String,
    pub(super) scan_open: String,
    pub(super) stats_bounded: String,
    pub(super) stats_open: String,
}

pub(super) fn read_sql(schema: &str, table: Table) -> ReadSql {
    let t = format!("{schema}.{}", table.name());
    let stats = format!("select count(*), coalesce(sum(length(key) + length(value)), 0)::int8 from {t}");
    ReadSql {
        get: format!("select value from {t} where key = $1"),
        get_many: format!("select key, value from {t} where key = any($1::bytea[])"),
        scan_bounded: format!(
            "select key, value from {t} where key >= $1::bytea and key < $2::bytea order by key limit $3::int8"
        ),
        scan_open: format!("select key, value from {t} where key >= $1::bytea order by key limit $2::int8"),
        stats_bounded: format!("{stats} where key >= $1::bytea and key < $2::bytea"),
        stats_open: format!("{stats} where key >= $1::bytea"),
    }
}

/// SQL text of the write statements of one table.
pub(super) struct WriteSql {
    pub(super) upsert: String,
    pub(super) upsert_loaded: String,
    pub(super) delete: String,
}

pub(super) fn write_sql(schema: &str, table: Table) -> WriteSql {
    let t = format!("{schema}.{}", table.name());
    let conflict = "on conflict (key) do update set value = excluded.value";
    WriteSql {
        upsert: format!(
            "insert into {t} (key, value) select * from unnest($1::bytea[], $2::bytea[]) as b(key, value) {conflict}"
        ),
        upsert_loaded: format!(
            "insert into {t} (key, value) select key, value from pg_temp.sseek_load where tbl = {} {conflict}",
            table_tag(table)
        ),
        delete: format!("delete from {t} where key = any($1::bytea[])"),
    }
}

/// The `tbl` column value of a table's rows in the temp load table.
pub(super) fn table_tag(table: Table) -> i16 {
    match table {
        Table::Documents => 0,
        Table::Postings => 1,
        Table::Entries => 2,
        Table::Meta => 3,
    }
}

/// Quotes an SQL identifier: double quotes, inner quotes doubled.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use tokio_postgres::Config;

    use super::*;
    use crate::store::postgres::connection::open_client;
    use crate::store::postgres::{PostgresStore, pg};
    use crate::store::{Store, WriteBatch};

    #[test]
    fn upper_bound_of_prefixes() {
        assert_eq!(prefix_upper_bound(b""), None);
        assert_eq!(prefix_upper_bound(b"b/"), Some(b"b0".to_vec()));
        assert_eq!(prefix_upper_bound(&[0x01, 0xff]), Some(vec![0x02]));
        assert_eq!(prefix_upper_bound(&[0x01, 0xfe, 0xff, 0xff]), Some(vec![0x01, 0xff]));
        assert_eq!(prefix_upper_bound(&[0xff, 0xff]), None);
        assert_eq!(prefix_upper_bound(&[0x00]), Some(vec![0x01]));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(quote_ident("we\"ird; drop"), "\"we\"\"ird; drop\"");
    }

    /// Every lookup statement runs as a scan of the primary-key index, also
    /// as a generic plan on a table of realistic size. Needs the server at
    /// `SSEEK_PG_URL` and fails without it.
    #[test]
    #[ignore = "needs PostgreSQL: set SSEEK_PG_URL"]
    fn lookups_scan_the_primary_key_index() {
        let url = std::env::var("SSEEK_PG_URL").expect("SSEEK_PG_URL is not set: no PostgreSQL server to test against");
        let schema = format!("sseek_explain_{}", std::process::id());
        let store = PostgresStore::connect(&url, &schema).expect("connect");
        let mut b = WriteBatch::new();
        for i in 0u32..20_000 {
            b.put(Table::Postings, i.to_be_bytes().to_vec(), vec![7; 32]);
        }
        store.write(b).expect("write");
        let q = quote_ident(&schema);
        let sql = read_sql(&q, Table::Postings);
        let plans = store
            .run(async move {
                let config: Config = url.parse().map_err(pg("parse"))?;
                let client = open_client(&config).await?;
                client
                    .batch_execute(&format!("analyze {q}.postings; set plan_cache_mode = force_generic_plan"))
                    .await
                    .map_err(pg("analyze"))?;
                let (k1, k2) = (r"'\x000001'::bytea", r"'\x000002'::bytea");
                let mut plans = Vec::new();
                for (name, text, args) in [
                    ("get", sql.get, k1.to_owned()),
                    ("get_many", sql.get_many, format!("array[{k1}, {k2}]")),
                    ("scan_bounded", sql.scan_bounded, format!("{k1}, {k2}, 10000")),
                    ("scan_open", sql.scan_open, format!("{k1}, 10000")),
                    ("stats_bounded", sql.stats_bounded, format!("{k1}, {k2}")),
                ] {
                    // A server-side prepared statement, so that EXPLAIN shows the generic plan.
                    client.batch_execute(&format!("prepare {name} as {text}")).await.map_err(pg("prepare"))?;
                    let mut plan = Vec::new();
                    for m in
                        client.simple_query(&format!("explain execute {name}({args})")).await.map_err(pg("explain"))?
                    {
                        if let tokio_postgres::SimpleQueryMessage::Row(row) = m {
                            plan.push(row.get(0).unwrap_or_default().to_owned());
                        }
                    }
                    plans.push((name, plan.join("\n")));
                }
                Ok(plans)
            })
            .expect("explain");
        store.drop_schema().expect("drop schema");
        for (name, plan) in plans {
            println!("{name}:\n{plan}");
            assert!(plan.contains("$1"), "{name}: not the generic plan:\n{plan}");
            // A plain or bitmap index scan of the primary key.
            assert!(
                plan.contains("Index Scan") && plan.contains("postings_pkey"),
                "{name}: no primary-key scan:\n{plan}"
            );
            assert!(!plan.contains("Seq Scan"), "{name} scans the table:\n{plan}");
        }
    }
}
