//! `--db`: where the data lives, and how to print that without a password.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where the data lives, from a `--db` URL.
///
/// `Display` and `Debug` show a PostgreSQL URL with its password replaced
/// by `***` (see [`redact_url`]), so a `DbUrl` may be logged or put in an
/// error as it is; [`DbUrl::Postgres`] holds the real URL to connect with.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// `sqlite://PATH` (relative) or `sqlite:///ABS/PATH`.
    Sqlite(PathBuf),
    /// `postgres://user:password@host:port/database` (or `postgresql://`).
    Postgres(String),
}

impl DbUrl {
    /// Parses `sqlite://path`, `sqlite:path`, `postgres://...` or a bare
    /// file path. Errors never repeat a password.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if rest.is_empty() {
                anyhow::bail!("database URL {url:?} names no file");
            }
            return Ok(Self::Sqlite(PathBuf::from(rest)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if url.contains("://") {
            anyhow::bail!("unsupported database URL {:?}: use sqlite://FILE or postgres://...", redact_url(url));
        }
        Ok(Self::Sqlite(PathBuf::from(url)))
    }

    /// The URL as it may be printed: a PostgreSQL password is `***`.
    pub fn redacted(&self) -> String {
        self.to_string()
    }
}

impl FromStr for DbUrl {
    type Err = anyhow::Error;

    fn from_str(url: &str) -> anyhow::Result<Self> {
        Self::parse(url)
    }
}

/// The redacted URL: `sqlite://PATH`, or the PostgreSQL URL with `***`
/// for its password.
impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

/// Like the derived `Debug`, but with the password redacted.
impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
        }
    }
}

/// Parses `--db` for clap. An error does not repeat the value, as clap's
/// own "invalid value '...'" would: it may hold a password.
#[derive(Clone, Copy, Debug)]
pub struct DbUrlParser;

impl clap::builder::TypedValueParser for DbUrlParser {
    type Value = DbUrl;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<DbUrl, clap::Error> {
        let name = arg.and_then(clap::Arg::get_long).unwrap_or("db");
        let invalid = |why: String| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("invalid value for '--{name}': {why}\n"))
                .with_cmd(cmd)
        };
        let url = value.to_str().ok_or_else(|| invalid("not UTF-8".to_owned()))?;
        DbUrl::parse(url).map_err(|e| invalid(format!("{e:#}")))
    }
}

/// `value_parser!(DbUrl)`, and so a `DbUrl` field of a clap struct, uses
/// [`DbUrlParser`].
impl clap::builder::ValueParserFactory for DbUrl {
    type Parser = DbUrlParser;

    fn value_parser() -> DbUrlParser {
        DbUrlParser
    }
}

impl<'de> serde::Deserialize<'de> for DbUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let url = String::deserialize(deserializer)?;
        Self::parse(&url).map_err(serde::de::Error::custom)
    }
}

/// `url` with its password replaced by `***`: the one in the credentials
/// (`scheme://user:PASSWORD@host`) and a `password=` query parameter.
/// Credentials end at the first `@`, as PostgreSQL's own parser reads them,
/// so whatever it would take as the password is hidden; a URL that only
/// looks odd may be redacted more than needed, never less.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return Cow::Borrowed(url);
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..scheme_end]);
    let mut rest = &url[scheme_end..];
    if let Some(at) = rest.find('@') {
        let credentials = &rest[..at];
        match credentials.split_once(':') {
            Some((user, _password)) => {
                out.push_str(user);
                out.push_str(":***@");
            }
            None => {
                out.push_str(credentials);
                out.push('@');
            }
        }
        rest = &rest[at + 1..];
    }
    match rest.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let params: Vec<Cow<'_, str>> = query.split('&').map(redact_param).collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(rest),
    }
    if out == url {
        Cow::Borrowed(url)
    } else {
        Cow::Owned(out)
    }
}

/// A query parameter, its value hidden when its key could be `password`
/// (a percent-encoded key could be anything, so it is hidden too).
fn redact_param(param: &str) -> Cow<'_, str> {
    match param.split_once('=') {
        Some((key, _)) if key.eq_ignore_ascii_case("password") || key.contains('%') => Cow::Owned(format!("{key}=***")),
        _ => Cow::Borrowed(param),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_urls() {
        assert_eq!(DbUrl::parse("sqlite://yhconv.db").unwrap(), DbUrl::Sqlite("yhconv.db".into()));
        assert_eq!(DbUrl::parse("sqlite:///tmp/x.db").unwrap(), DbUrl::Sqlite("/tmp/x.db".into()));
        assert_eq!(DbUrl::parse("data/x.db").unwrap(), DbUrl::Sqlite("data/x.db".into()));
        assert!(DbUrl::parse("sqlite://").is_err());
        assert!(DbUrl::parse("mysql://x").is_err());
        assert_eq!(DbUrl::parse("postgres://u@h/db").unwrap(), DbUrl::Postgres("postgres://u@h/db".into()));
        assert_eq!("sqlite://a.db".parse::<DbUrl>().unwrap(), DbUrl::Sqlite("a.db".into()));
    }

    #[test]
    fn passwords_are_redacted_and_the_rest_is_kept() {
        let cases = [
            ("postgres://yhconv:s3cret@db.example:5432/chat", "postgres://yhconv:***@db.example:5432/chat"),
            ("postgresql://u:p@ss:w/rd@h/db", "postgresql://u:***@ss:w/rd@h/db"),
            ("postgres://u:pw@h/db?sslmode=disable&password=x", "postgres://u:***@h/db?sslmode=disable&password=***"),
            ("postgres://h/db?PASSWORD=x&application_name=a", "postgres://h/db?PASSWORD=***&application_name=a"),
            ("postgres://h/db?pass%77ord=x", "postgres://h/db?pass%77ord=***"),
            ("postgres://u@h:5432/db", "postgres://u@h:5432/db"),
            ("postgres://h/db", "postgres://h/db"),
            ("mysql://root:pw@h", "mysql://root:***@h"),
            ("not a url", "not a url"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn display_debug_and_errors_hide_the_password() {
        let db = DbUrl::parse("postgres://u:s3cretpw@127.0.0.1:1/db").unwrap();
        assert_eq!(db.to_string(), "postgres://u:***@127.0.0.1:1/db");
        assert_eq!(db.redacted(), db.to_string());
        assert_eq!(format!("{db:?}"), "Postgres(\"postgres://u:***@127.0.0.1:1/db\")");
        let err = DbUrl::parse("mysql://u:s3cretpw@h/db").unwrap_err().to_string();
        assert!(err.contains("mysql://u:***@h/db") && !err.contains("s3cretpw"), "{err}");
        assert_eq!(DbUrl::Sqlite("/var/x.db".into()).to_string(), "sqlite:///var/x.db");
    }
}
