//! The one error type of sseek.
//!
//! Every fallible function returns [`Result<T>`](crate::Result). Errors name the
//! problem and, where there is one, the file or field involved; they never carry
//! key material or plaintext.

use std::path::PathBuf;

/// Everything that can go wrong in sseek.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A key file is damaged, truncated, of an unknown version or not a key file.
    #[error("invalid key file {path}: {reason}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A passphrase-wrapped key backup could not be opened: wrong passphrase or damaged backup.
    #[error("cannot unwrap key backup: wrong passphrase or damaged backup")]
    WrongPassphrase,

    /// A passphrase-wrapped key backup is malformed.
    #[error("invalid key backup: {0}")]
    KeyBackup(String),

    /// A key derivation label is not acceptable (for example an empty component).
    #[error("invalid key label: {0}")]
    KeyLabel(String),

    /// Decryption failed: the ciphertext was modified, moved to another id or
    /// tenant, or encrypted under another key.
    #[error("decryption failed for document {doc_id}: ciphertext modified, misplaced or under another key")]
    Decrypt {
        /// The document id the ciphertext was presented for.
        doc_id: u32,
    },

    /// A cryptographic primitive refused its input (wrong key or nonce length).
    #[error("cryptographic error: {0}")]
    Crypto(String),

    /// A protocol message is of a protocol version this build does not speak.
    #[error("unsupported protocol version {found} (this build speaks version {supported})")]
    ProtocolVersion {
        /// The version the message carries.
        found: u16,
        /// The version this build speaks.
        supported: u16,
    },

    /// A protocol message could not be decoded.
    #[error("malformed protocol message: {0}")]
    Protocol(String),

    /// Bytes read back from a store do not decode: the store is damaged or was
    /// written by something else. Nothing is overwritten when this is returned.
    #[error("data corruption in {table} store entry: {reason}")]
    DataCorruption {
        /// The store table holding the bad value.
        table: &'static str,
        /// What failed to decode.
        reason: String,
    },

    /// The storage engine failed.
    #[error("store error: {0}")]
    Store(String),

    /// A mail or text file in a dataset could not be parsed.
    #[error("malformed mail {path}: {reason}")]
    MalformedMail {
        /// The file (or archive member) involved.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A dataset (directory, JSONL file or archive) could not be read.
    #[error("invalid dataset {path}: {reason}")]
    Dataset {
        /// The dataset path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A query or index definition is invalid (unknown index, empty query, ...).
    #[error("invalid query: {0}")]
    Query(String),

    /// The server rejected a request.
    #[error("server rejected the request ({code}): {message}")]
    Server {
        /// HTTP-style status code.
        code: u16,
        /// The server's reason.
        message: String,
    },

    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A client state file cannot be used: under another key or instance,
    /// modified, truncated or malformed. The file is left as it was.
    #[error("client state file {path}: {reason}")]
    StateFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A recorded server view (JSON lines) has a line that does not parse.
    #[error("server view {path}, line {line}: {reason}")]
    ViewFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// A write would overwrite something that must be written once (an SSE
    /// entry: a re-run static setup or a client whose state file is stale).
    #[error("conflict: {0}")]
    Conflict(String),

    /// Drawing or encoding a plot failed.
    #[error("plot error: {0}")]
    Plot(String),

    /// A named resource (an SSE instance, say) does not exist.
    #[error("not found: {0}")]
    NotFound(String),

    /// The HTTP transport could not reach the server or read its answer.
    #[error("HTTP transport error: {0}")]
    Http(String),

    /// A tenant's quota (stored bytes) would be exceeded; nothing was written.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),

    /// A store backup file is truncated, damaged, of an unknown version or
    /// not a backup; nothing was restored from it.
    #[error("invalid backup: {0}")]
    Backup(String),

    /// The audit log fails verification: a record removed, altered or
    /// reordered, or a record that does not decode.
    #[error("audit log check failed: {0}")]
    Audit(String),
}

impl Error {
    /// The HTTP-style status a server answers this error with: 422 for a
    /// protocol version this build does not speak, 404 not found, 409
    /// conflict, 429 over quota, 500 for the server's own storage failures,
    /// 400 for anything else the client sent.
    pub fn status_code(&self) -> u16 {
        match self {
            Error::ProtocolVersion { .. } => 422,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::QuotaExceeded(_) => 429,
            Error::DataCorruption { .. } | Error::Store(_) | Error::Io { .. } => 500,
            _ => 400,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        Error::Store(e.to_string())
    }
}

macro_rules! redb_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self { Error::Store(e.to_string()) }
        }
    )*};
}
redb_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
