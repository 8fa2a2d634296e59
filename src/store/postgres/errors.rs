//! PostgreSQL errors as store errors, with what was being done and the
//! server's own message.

use crate::Error;
use crate::store::Table;

/// An error and its sources, one line: tokio-postgres puts the server's
/// message in the source, not in the top-level text.
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Maps a tokio-postgres error to [`Error::Store`] with what was being done.
pub(super) fn pg(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| Error::Store(format!("PostgreSQL: cannot {doing}: {}", chain(&e)))
}

/// Like [`pg`], naming the table.
pub(super) fn pg_table(doing: &'static str, table: Table) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| Error::Store(format!("PostgreSQL {doing} on {}: {}", table.name(), chain(&e)))
}
