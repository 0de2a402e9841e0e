//! The agent's configuration file: AWS Secrets Manager Agent's TOML format and keys, with its
//! defaults, ranges and error messages, so an existing agent config works unchanged. Numbers
//! may be written as numbers or strings (`ttl_seconds = 300`, `cache_size = '1000'`), as that
//! agent accepts them; unknown keys are refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

pub const DEFAULT_HTTP_PORT: u16 = 2773;
pub const DEFAULT_TTL_SECONDS: u64 = 300;
pub const DEFAULT_CACHE_SIZE: usize = 1000;
pub const DEFAULT_MAX_CONN: usize = 800;
pub const DEFAULT_PATH_PREFIX: &str = "/v1/";
pub const DEFAULT_SSRF_HEADERS: [&str; 2] = ["X-Aws-Parameters-Secrets-Token", "X-Vault-Token"];
pub const DEFAULT_SSRF_ENV_VARIABLES: [&str; 3] = [
    "AWS_TOKEN",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];
/// How long past its TTL a cached value may still be served while the server cannot be
/// reached (Strongroom's bound; AWS's agent has none).
pub const DEFAULT_MAX_STALE_SECONDS: u64 = 900;

// AWS's agent's messages, verbatim.
const INVALID_LOG_LEVEL: &str = "The log level specified in the configuration file isn't valid. The log level must be DEBUG, INFO, WARN, ERROR, or NONE.";
const INVALID_HTTP_PORT: &str = "The HTTP port specified in the configuration file isn't valid. The HTTP port must be in the range 1024 to 65535.";
const INVALID_TTL_SECONDS: &str = "The TTL in seconds specified in the configuration file isn't valid. The TTL in seconds must be in the range 0 to 3600.";
const INVALID_CACHE_SIZE: &str = "The cache size specified in the configuration file isn't valid. The cache size must be in the range 1 to 1000.";
const BAD_MAX_CONN: &str = "The maximum number of connections specified in the configuration file isn't valid. The maximum number of connections must be in the range 1 to 1000.";
const EMPTY_SSRF_LIST: &str = "The list of SSRF headers in the configuration file can't be empty.";
const EMPTY_ENV_LIST: &str =
    "The list of SSRF environment variables in the configuration file can't be empty.";
const BAD_PREFIX: &str = "The path prefix specified in the configuration file must begin with /.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    None,
}

impl LogLevel {
    /// The tracing filter: the agent's own level; the SDK's chatter only when it matters.
    pub fn filter(self) -> &'static str {
        match self {
            Self::Debug => "debug,aws_smithy_runtime=info,aws_config=info,hyper=info",
            Self::Info => "info,aws_config=warn,aws_smithy_runtime=warn,aws_runtime=error",
            Self::Warn => "warn,aws_runtime=error",
            Self::Error => "error",
            Self::None => "off",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub log_level: LogLevel,
    /// Accepted for compatibility; Strongroom's agent always logs to standard error.
    pub log_to_file: bool,
    pub http_port: u16,
    /// 0: no caching.
    pub ttl: Duration,
    pub cache_size: usize,
    pub ssrf_headers: Vec<String>,
    pub ssrf_env_variables: Vec<String>,
    pub path_prefix: String,
    pub max_conn: usize,
    pub region: Option<String>,
    /// Serve a cached value past its TTL when the server cannot be reached (timeouts, I/O
    /// errors, 5xx), for at most `max_stale`.
    pub ignore_transient_errors: bool,
    /// Check the credentials with STS GetCallerIdentity at start.
    pub validate_credentials: bool,
    /// Credentials from this file (standard credentials file format, `[default]`), re-read
    /// when it changes.
    pub credentials_file_path: Option<PathBuf>,
    /// Strongroom's bound on serving stale values (`max_stale_seconds`).
    pub max_stale: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            log_level: LogLevel::Info,
            log_to_file: true,
            http_port: DEFAULT_HTTP_PORT,
            ttl: Duration::from_secs(DEFAULT_TTL_SECONDS),
            cache_size: DEFAULT_CACHE_SIZE,
            ssrf_headers: DEFAULT_SSRF_HEADERS.map(String::from).to_vec(),
            ssrf_env_variables: DEFAULT_SSRF_ENV_VARIABLES.map(String::from).to_vec(),
            path_prefix: DEFAULT_PATH_PREFIX.into(),
            max_conn: DEFAULT_MAX_CONN,
            region: None,
            ignore_transient_errors: true,
            validate_credentials: true,
            credentials_file_path: None,
            max_stale: Duration::from_secs(DEFAULT_MAX_STALE_SECONDS),
        }
    }
}

impl Config {
    /// The defaults, overridden by the file when one is given.
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the configuration file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| format!("not a valid TOML file: {}", e.message()))?;
        let mut c = Self::default();
        for (key, value) in &table {
            match key.as_str() {
                "log_level" => {
                    c.log_level = match text_of(value)
                        .ok_or(INVALID_LOG_LEVEL)?
                        .to_ascii_lowercase()
                        .as_str()
                    {
                        "debug" => LogLevel::Debug,
                        "info" => LogLevel::Info,
                        "warn" => LogLevel::Warn,
                        "error" => LogLevel::Error,
                        "none" => LogLevel::None,
                        _ => return Err(INVALID_LOG_LEVEL.into()),
                    }
                }
                "log_to_file" => c.log_to_file = boolean(key, value)?,
                "http_port" => {
                    let port: u16 = number(value, INVALID_HTTP_PORT)?;
                    // As AWS's agent: 0 (any free port) or 1024..=65535.
                    if (1..1024).contains(&port) {
                        return Err(INVALID_HTTP_PORT.into());
                    }
                    c.http_port = port;
                }
                "ttl_seconds" => {
                    let ttl: u64 = number(value, INVALID_TTL_SECONDS)?;
                    if ttl > 3600 {
                        return Err(INVALID_TTL_SECONDS.into());
                    }
                    c.ttl = Duration::from_secs(ttl);
                }
                "cache_size" => {
                    let n: usize = number(value, INVALID_CACHE_SIZE)?;
                    if !(1..=1000).contains(&n) {
                        return Err(INVALID_CACHE_SIZE.into());
                    }
                    c.cache_size = n;
                }
                "ssrf_headers" => {
                    c.ssrf_headers = strings(key, value)?;
                    if c.ssrf_headers.is_empty() {
                        return Err(EMPTY_SSRF_LIST.into());
                    }
                    for h in &c.ssrf_headers {
                        http::HeaderName::from_bytes(h.as_bytes())
                            .map_err(|_| format!("ssrf_headers: {h:?} is not a header name"))?;
                    }
                }
                "ssrf_env_variables" => {
                    c.ssrf_env_variables = strings(key, value)?;
                    if c.ssrf_env_variables.is_empty() {
                        return Err(EMPTY_ENV_LIST.into());
                    }
                }
                "path_prefix" => {
                    let p = text_of(value).ok_or(BAD_PREFIX)?;
                    if !p.starts_with('/') {
                        return Err(BAD_PREFIX.into());
                    }
                    c.path_prefix = p.to_string();
                }
                "max_conn" => {
                    let n: usize = number(value, BAD_MAX_CONN)?;
                    if !(1..=1000).contains(&n) {
                        return Err(BAD_MAX_CONN.into());
                    }
                    c.max_conn = n;
                }
                "region" => {
                    c.region = Some(text_of(value).ok_or("region must be a string")?.to_string())
                }
                "ignore_transient_errors" => c.ignore_transient_errors = boolean(key, value)?,
                "validate_credentials" => c.validate_credentials = boolean(key, value)?,
                "credentials_file_path" => {
                    c.credentials_file_path = Some(PathBuf::from(
                        text_of(value).ok_or("credentials_file_path must be a string")?,
                    ))
                }
                "max_stale_seconds" => {
                    let s: u64 = number(value, "max_stale_seconds must be a number of seconds")?;
                    c.max_stale = Duration::from_secs(s);
                }
                other => return Err(format!("unknown configuration key {other:?}")),
            }
        }
        Ok(c)
    }

    /// The SSRF token: the first of `ssrf_env_variables` that is set; a `file://PATH` value
    /// names the file holding it (trimmed).
    pub fn token(&self) -> Result<Zeroizing<String>, String> {
        let value = self
            .ssrf_env_variables
            .iter()
            .find_map(|n| std::env::var(n).ok())
            .map(Zeroizing::new)
            .ok_or_else(|| {
                format!(
                    "Could not read SSRF token variable(s) {:?}: environment variable not found",
                    self.ssrf_env_variables
                )
            })?;
        let token = match value.strip_prefix("file://") {
            None => value,
            Some(path) => {
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "Could not read SSRF token variable(s) {:?}: {e}",
                        self.ssrf_env_variables
                    )
                })?);
                Zeroizing::new(text.trim().to_string())
            }
        };
        if token.is_empty() {
            return Err("the SSRF token is empty".into());
        }
        Ok(token)
    }
}

fn text_of(v: &toml::Value) -> Option<&str> {
    v.as_str()
}

fn number<T: std::str::FromStr>(v: &toml::Value, msg: &str) -> Result<T, String> {
    let text = match v {
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::String(s) => s.trim().to_string(),
        _ => return Err(msg.into()),
    };
    text.parse().map_err(|_| msg.to_string())
}

fn boolean(key: &str, v: &toml::Value) -> Result<bool, String> {
    match v {
        toml::Value::Boolean(b) => Ok(*b),
        toml::Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        toml::Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(format!("{key} must be true or false")),
    }
}

fn strings(key: &str, v: &toml::Value) -> Result<Vec<String>, String> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| format!("{key} must be a list of strings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_aws_agents() {
        let c = Config::default();
        assert_eq!(
            (c.http_port, c.ttl.as_secs(), c.cache_size, c.max_conn),
            (2773, 300, 1000, 800)
        );
        assert_eq!(c.path_prefix, "/v1/");
        assert_eq!(
            c.ssrf_headers,
            ["X-Aws-Parameters-Secrets-Token", "X-Vault-Token"]
        );
        assert_eq!(
            c.ssrf_env_variables,
            [
                "AWS_TOKEN",
                "AWS_SESSION_TOKEN",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN"
            ]
        );
    }

    #[test]
    fn an_aws_agent_config_file_is_read_unchanged() {
        // AWS's agent's own test file: numbers as numbers and as quoted strings.
        let c = Config::parse(
            r#"
log_level = "DEBUG"
http_port = "65535"
ssrf_headers = ["X-Aws-Parameters-Secrets-Token"]
ssrf_env_variables = ["MY_TOKEN"]
path_prefix = "/other"
ttl_seconds = 300
cache_size = '1000'
max_conn = 10
region = "us-west-2"
ignore_transient_errors = false
validate_credentials = false
credentials_file_path = "/tmp/test_credentials"
"#,
        )
        .unwrap();
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!((c.http_port, c.max_conn, c.cache_size), (65535, 10, 1000));
        assert_eq!(c.path_prefix, "/other");
        assert_eq!(c.region.as_deref(), Some("us-west-2"));
        assert!(!c.ignore_transient_errors && !c.validate_credentials);
        assert_eq!(c.ssrf_env_variables, ["MY_TOKEN"]);
        assert!(Config::parse("http_port = \"0\"\nmax_conn = 1").is_ok());
    }

    #[test]
    fn out_of_range_values_get_aws_agents_messages() {
        for (text, msg) in [
            ("http_port = 80", INVALID_HTTP_PORT),
            ("ttl_seconds = 3601", INVALID_TTL_SECONDS),
            ("cache_size = 0", INVALID_CACHE_SIZE),
            ("cache_size = 1001", INVALID_CACHE_SIZE),
            ("max_conn = 1001", BAD_MAX_CONN),
            ("log_level = \"loud\"", INVALID_LOG_LEVEL),
            ("ssrf_headers = []", EMPTY_SSRF_LIST),
            ("ssrf_env_variables = []", EMPTY_ENV_LIST),
            ("path_prefix = \"v1\"", BAD_PREFIX),
        ] {
            assert_eq!(Config::parse(text).unwrap_err(), msg, "{text}");
        }
        assert!(
            Config::parse("ttl_secs = 1")
                .unwrap_err()
                .contains("unknown")
        );
        assert!(Config::parse("This is gibberish").is_err());
    }
}
