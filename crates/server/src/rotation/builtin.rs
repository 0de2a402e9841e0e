//! Built-in rotators: a database user's password, rotated by the server itself, with nothing
//! to write or run — `builtin = "postgresql-single-user"` or `"mysql-single-user"` (MySQL and
//! MariaDB) in a `[[rotation-function]]`.
//!
//! The secret is JSON in the shape AWS's rotation templates use: `{"engine", "host", "port",
//! "username", "password", "dbname"?}`. "Single user", as AWS's templates of that name: the
//! user changes its own password, signing in with its current one, so no administrator
//! credentials are involved. The four steps are AWS's: createSecret (a new password in the
//! AWSPENDING version), setSecret (the database takes it), testSecret (it signs in),
//! finishSecret (AWSCURRENT moves). Each step is safe to run again after a failure.
//!
//! Connections prefer TLS and fall back to plain TCP, as `sslmode=prefer` does, unless the
//! function's `tls` asks for `require`, `verify-ca` or `verify-full` (with `ca-file`).

use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::{ConnectOptions as _, Connection as _};
use strongroom_domain::password::{PasswordSpec, generate_password};
use strongroom_domain::secret::{AWSCURRENT, AWSPENDING};
use zeroize::Zeroizing;

use crate::services::secretsmanager::SecretsManager;
use crate::services::secretsmanager::rotation::RotationJob;

/// The database engines the server rotates by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Mysql,
}

/// A built-in rotator: the engine, and AWS's strategy — single user (the user changes its own
/// password) or alternating users (an administrator, whose secret `masterarn` names, keeps two
/// users — NAME and NAME_clone — and each rotation gives the idle one a new password and makes
/// it current, so the previous login keeps working until the next rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    pub engine: Engine,
    pub alternating: bool,
}

impl Builtin {
    pub fn parse(name: &str) -> Result<Self, String> {
        let (engine, alternating) = match name {
            "postgresql-single-user" => (Engine::Postgres, false),
            "postgresql-multi-user" => (Engine::Postgres, true),
            "mysql-single-user" => (Engine::Mysql, false),
            "mysql-multi-user" => (Engine::Mysql, true),
            other => {
                return Err(format!(
                    "unknown builtin rotator {other:?}: use postgresql-single-user, postgresql-multi-user, mysql-single-user or mysql-multi-user"
                ));
            }
        };
        Ok(Self {
            engine,
            alternating,
        })
    }
}

/// The other user of an alternating pair (AWS's templates: NAME ↔ NAME_clone).
fn alternate(username: &str) -> String {
    match username.strip_suffix("_clone") {
        Some(base) => base.to_string(),
        None => format!("{username}_clone"),
    }
}

/// What an alternating-users rotation may touch: the pair NAME / NAME_clone the secret holds
/// (the pending user is exactly the current one's other), plain identifiers only, and never
/// the administrator itself or its pair — a secret's writer must not be able to have the
/// administrator reset or copy the administrator.
fn check_alternating_names(master: &Login, current: &Login, pending: &Login) -> Result<(), String> {
    plain_identifier(&current.username)?;
    plain_identifier(&pending.username)?;
    if pending.username != alternate(&current.username) {
        return Err(format!(
            "the pending user {} is not the other user of {}",
            pending.username, current.username
        ));
    }
    let base = |n: &str| n.strip_suffix("_clone").unwrap_or(n).to_ascii_lowercase();
    let reserved = [base(&master.username), "root".into(), "postgres".into()];
    if reserved.contains(&base(&current.username)) || base(&current.username).starts_with("pg_") {
        return Err(format!(
            "{} is an administrator or system account: alternating-users rotation does not touch it",
            current.username
        ));
    }
    Ok(())
}

/// User names go into administrator statements as identifiers: only plain ones are accepted.
fn plain_identifier(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_$.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err("the secret's username has characters this rotator does not quote (use letters, digits and _ $ . -)".into())
    }
}

/// How a built-in rotator secures its database connections (libpq's sslmode names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbTls {
    mode: TlsMode,
    ca_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl DbTls {
    /// The default is `prefer`, except for `-multi-user` rotators: they sign in as an
    /// administrator, whose password a downgraded connection must not expose — `require`
    /// unless the configuration says otherwise.
    pub fn parse(
        kind: Builtin,
        mode: Option<&str>,
        ca_file: Option<std::path::PathBuf>,
    ) -> Result<Self, String> {
        let default = if kind.alternating {
            "require"
        } else {
            "prefer"
        };
        let mode = match mode.unwrap_or(default) {
            "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => {
                return Err(format!(
                    "tls = {other:?}: use prefer, require, verify-ca or verify-full"
                ));
            }
        };
        if ca_file.is_some() && !matches!(mode, TlsMode::VerifyCa | TlsMode::VerifyFull) {
            return Err("ca-file is only used with tls = verify-ca or verify-full".into());
        }
        Ok(Self { mode, ca_file })
    }

    fn postgres(&self, opts: sqlx::postgres::PgConnectOptions) -> sqlx::postgres::PgConnectOptions {
        use sqlx::postgres::PgSslMode;
        let opts = opts.ssl_mode(match self.mode {
            TlsMode::Prefer => PgSslMode::Prefer,
            TlsMode::Require => PgSslMode::Require,
            TlsMode::VerifyCa => PgSslMode::VerifyCa,
            TlsMode::VerifyFull => PgSslMode::VerifyFull,
        });
        match &self.ca_file {
            Some(ca) => opts.ssl_root_cert(ca),
            None => opts,
        }
    }

    fn mysql(&self, opts: sqlx::mysql::MySqlConnectOptions) -> sqlx::mysql::MySqlConnectOptions {
        use sqlx::mysql::MySqlSslMode;
        let opts = opts.ssl_mode(match self.mode {
            TlsMode::Prefer => MySqlSslMode::Preferred,
            TlsMode::Require => MySqlSslMode::Required,
            TlsMode::VerifyCa => MySqlSslMode::VerifyCa,
            TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
        });
        match &self.ca_file {
            Some(ca) => opts.ssl_ca(ca),
            None => opts,
        }
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Characters a password never contains, so it needs no quoting care anywhere it goes.
const EXCLUDED: &str = "/@\"'\\`$%";

/// A database login, as the secret holds it.
struct Login {
    host: String,
    port: u16,
    username: String,
    password: Zeroizing<String>,
    dbname: Option<String>,
}

fn login(doc: &Map<String, Value>, default_port: u16) -> Result<Login, String> {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let port = match doc.get("port") {
        None => default_port,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or("the secret's port is not a port number")?,
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| "the secret's port is not a port number")?,
        Some(_) => return Err("the secret's port is not a port number".into()),
    };
    Ok(Login {
        host: text("host").ok_or("the secret has no host")?,
        port,
        username: text("username").ok_or("the secret has no username")?,
        password: Zeroizing::new(text("password").ok_or("the secret has no password")?),
        dbname: text("dbname"),
    })
}

fn parse(value: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(value) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err("the secret's value is not a JSON object with the database login".into()),
    }
}

/// Run the four steps for `job`; `Err` says which failed and why (never a secret value).
pub async fn rotate(
    sm: &SecretsManager,
    kind: Builtin,
    tls: &DbTls,
    master_secret: Option<&str>,
    job: &RotationJob,
) -> Result<(), String> {
    let default_port = match kind.engine {
        Engine::Postgres => 5432,
        Engine::Mysql => 3306,
    };
    let arn = job.secret_arn.as_str();
    let token = job.token.as_str();
    let step = |name: &'static str| move |e: String| format!("step {name}: {e}");
    let sm_err = |e: crate::services::secretsmanager::SmError| format!("{e:?}");

    // createSecret
    let current = sm
        .rotation_value(arn, None, AWSCURRENT)
        .await
        .map_err(sm_err)
        .and_then(|v| v.ok_or_else(|| "the secret has no AWSCURRENT value".to_string()))
        .and_then(|v| parse(&v))
        .map_err(step("createSecret"))?;
    let current_login = login(&current, default_port).map_err(step("createSecret"))?;
    let pending = match sm
        .rotation_value(arn, Some(token), AWSPENDING)
        .await
        .map_err(|e| step("createSecret")(sm_err(e)))?
    {
        Some(v) => parse(&v).map_err(step("createSecret"))?,
        None => {
            let password = generate_password(&PasswordSpec {
                length: Some(32),
                exclude_characters: Some(EXCLUDED.into()),
                ..Default::default()
            })
            .map_err(|e| step("createSecret")(e.to_string()))?;
            let mut doc = current.clone();
            doc.insert("password".into(), Value::String(password));
            if kind.alternating {
                doc.insert(
                    "username".into(),
                    Value::String(alternate(&current_login.username)),
                );
            }
            let text = Zeroizing::new(Value::Object(doc.clone()).to_string());
            sm.set_pending_value(arn, token, &text)
                .await
                .map_err(|e| step("createSecret")(sm_err(e)))?;
            doc
        }
    };
    let pending_login = login(&pending, default_port).map_err(step("createSecret"))?;
    if pending_login.password.chars().any(|c| EXCLUDED.contains(c)) {
        return Err(step("createSecret")(
            "the pending password has characters this rotator does not quote".into(),
        ));
    }

    // setSecret: as the user, with its current password — or, if a retried rotation already
    // set it, with the new one.
    if kind.alternating {
        // As the administrator the function's configuration names; a secret may repeat it in
        // masterarn (AWS's templates read it there) but never choose another.
        let configured = master_secret.ok_or_else(|| {
            step("setSecret")("the rotation function has no master-secret configured".into())
        })?;
        let configured_arn = sm
            .secret_arn(configured)
            .await
            .map_err(|e| step("setSecret")(format!("the master secret: {}", sm_err(e))))?;
        if let Some(named) = current.get("masterarn").and_then(Value::as_str) {
            let named_arn = sm.secret_arn(named).await.ok();
            if named_arn.as_deref() != Some(configured_arn.as_str()) {
                return Err(step("setSecret")(
                    "the secret's masterarn is not the administrator secret this rotation function uses".into(),
                ));
            }
        }
        let master = sm
            .rotation_value(&configured_arn, None, AWSCURRENT)
            .await
            .map_err(sm_err)
            .and_then(|v| v.ok_or_else(|| "the master secret has no value".to_string()))
            .and_then(|v| parse(&v))
            .and_then(|d| login(&d, default_port))
            .map_err(step("setSecret"))?;
        check_alternating_names(&master, &current_login, &pending_login)
            .map_err(step("setSecret"))?;
        match kind.engine {
            Engine::Postgres => {
                set_postgres_alternating(tls, &master, &current_login, &pending_login).await
            }
            Engine::Mysql => {
                set_mysql_alternating(tls, &master, &current_login, &pending_login).await
            }
        }
        .map_err(step("setSecret"))?;
    } else {
        match kind.engine {
            Engine::Postgres => set_postgres(tls, &current_login, &pending_login).await,
            Engine::Mysql => set_mysql(tls, &current_login, &pending_login).await,
        }
        .map_err(step("setSecret"))?;
    }

    // testSecret
    match kind.engine {
        Engine::Postgres => pg_connect(tls, &pending_login).await.map(drop),
        Engine::Mysql => mysql_connect(tls, &pending_login).await.map(drop),
    }
    .map_err(|e| step("testSecret")(format!("the new password does not sign in: {e}")))?;

    // finishSecret
    sm.promote(arn, token)
        .await
        .map_err(|e| step("finishSecret")(sm_err(e)))
}

/// The configuration test (RotateImmediately=false): testSecret alone — the AWSPENDING copy
/// of the current value signs in.
pub async fn test(
    sm: &SecretsManager,
    kind: Builtin,
    tls: &DbTls,
    job: &RotationJob,
) -> Result<(), String> {
    let default_port = match kind.engine {
        Engine::Postgres => 5432,
        Engine::Mysql => 3306,
    };
    let step = |e: String| format!("step testSecret: {e}");
    let pending = sm
        .rotation_value(&job.secret_arn, Some(&job.token), AWSPENDING)
        .await
        .map_err(|e| step(format!("{e:?}")))?
        .ok_or_else(|| step("the AWSPENDING version has no value".into()))?;
    let login = parse(&pending)
        .and_then(|d| login(&d, default_port))
        .map_err(step)?;
    match kind.engine {
        Engine::Postgres => pg_connect(tls, &login).await.map(drop),
        Engine::Mysql => mysql_connect(tls, &login).await.map(drop),
    }
    .map_err(|e| step(format!("the password does not sign in: {e}")))
}

async fn pg_connect(tls: &DbTls, l: &Login) -> Result<sqlx::PgConnection, String> {
    let mut opts = tls.postgres(
        sqlx::postgres::PgConnectOptions::new()
            .host(&l.host)
            .port(l.port)
            .username(&l.username)
            .password(&l.password)
            // The statements carry the new password: sqlx must not log them.
            .disable_statement_logging(),
    );
    if let Some(db) = &l.dbname {
        opts = opts.database(db);
    }
    tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect_with(&opts))
        .await
        .map_err(|_| format!("connecting to {}:{} timed out", l.host, l.port))?
        .map_err(|e| e.to_string())
}

async fn mysql_connect(tls: &DbTls, l: &Login) -> Result<sqlx::MySqlConnection, String> {
    let mut opts = tls.mysql(
        sqlx::mysql::MySqlConnectOptions::new()
            .host(&l.host)
            .port(l.port)
            .username(&l.username)
            .disable_statement_logging(),
    );
    // An account without a password (a local administrator) gets none sent.
    if !l.password.is_empty() {
        opts = opts.password(&l.password);
    }
    if let Some(db) = &l.dbname {
        opts = opts.database(db);
    }
    tokio::time::timeout(CONNECT_TIMEOUT, sqlx::MySqlConnection::connect_with(&opts))
        .await
        .map_err(|_| format!("connecting to {}:{} timed out", l.host, l.port))?
        .map_err(|e| e.to_string())
}

/// `ALTER ROLE` takes no bind parameters: the role is a quoted identifier; the password goes
/// as a SCRAM-SHA-256 verifier computed here (PostgreSQL stores a verifier given as the
/// password as is), so the plaintext never reaches the database or its statement log.
async fn set_postgres(tls: &DbTls, current: &Login, pending: &Login) -> Result<(), String> {
    let mut conn = match pg_connect(tls, current).await {
        Ok(c) => c,
        // A retry: the database already has the new password.
        Err(first) => match pg_connect(tls, pending).await {
            Ok(c) => c,
            Err(_) => return Err(format!("cannot sign in with the current password: {first}")),
        },
    };
    let role = format!("\"{}\"", pending.username.replace('"', "\"\""));
    let verifier = postgres_protocol::password::scram_sha_256(pending.password.as_bytes());
    let sql = Zeroizing::new(format!("ALTER ROLE {role} WITH PASSWORD '{verifier}'"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.as_str()))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("ALTER ROLE failed: {e}"))?;
    let _ = conn.close().await;
    Ok(())
}

/// MariaDB: `SET PASSWORD = '*HASH'` — the mysql_native_password hash computed here, so the
/// plaintext never reaches the server, its general log or its binary log (and no quoting
/// question arises). MySQL (whose default caching_sha2_password has no hash a client can
/// compute simply): `ALTER USER CURRENT_USER() IDENTIFIED BY '…'` with the literal escaped.
/// Both need no privilege for one's own account.
async fn set_mysql(tls: &DbTls, current: &Login, pending: &Login) -> Result<(), String> {
    let mut conn = match mysql_connect(tls, current).await {
        Ok(c) => c,
        Err(first) => match mysql_connect(tls, pending).await {
            Ok(_) => return Ok(()),
            Err(_) => return Err(format!("cannot sign in with the current password: {first}")),
        },
    };
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let password = pending.password.as_str();
    let sql = Zeroizing::new(if version.contains("MariaDB") {
        format!("SET PASSWORD = '{}'", native_password_hash(password))
    } else {
        let escaped = Zeroizing::new(password.replace('\\', "\\\\").replace('\'', "''"));
        format!(
            "ALTER USER CURRENT_USER() IDENTIFIED BY '{}'",
            escaped.as_str()
        )
    });
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.as_str()))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("changing the password failed: {e}"))?;
    let _ = conn.close().await;
    Ok(())
}

/// PostgreSQL, alternating users: as the administrator, create NAME_clone (a member of NAME,
/// so it has NAME's privileges, as AWS's template does) or give the idle user its new
/// password — a verifier computed here, as in single-user rotation.
async fn set_postgres_alternating(
    tls: &DbTls,
    master: &Login,
    current: &Login,
    pending: &Login,
) -> Result<(), String> {
    let mut conn = pg_connect(tls, master)
        .await
        .map_err(|e| format!("cannot sign in as the administrator: {e}"))?;
    // Neither user of the pair may hold administrative attributes (the administrator would
    // otherwise hand them out), and an existing clone must be the base user's member — one
    // this rotator made, not some other role that happens to have the name.
    let base = current
        .username
        .strip_suffix("_clone")
        .unwrap_or(&current.username);
    let rows: Vec<(String, bool)> = sqlx::query_as(
        "SELECT rolname, rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls
         FROM pg_roles WHERE rolname = $1 OR rolname = $2",
    )
    .bind(&current.username)
    .bind(&pending.username)
    .fetch_all(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    if let Some((name, _)) = rows.iter().find(|(_, privileged)| *privileged) {
        return Err(format!(
            "{name} has administrative attributes: alternating-users rotation does not touch it"
        ));
    }
    let exists = rows
        .iter()
        .any(|(n, _)| *n == pending.username)
        .then_some(());
    let clone = if pending.username == base {
        &current.username
    } else {
        &pending.username
    };
    let clone_exists = rows.iter().any(|(n, _)| n == clone);
    if clone_exists {
        let member: bool = sqlx::query_scalar("SELECT pg_has_role($1, $2, 'MEMBER')")
            .bind(clone)
            .bind(base)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        if !member {
            return Err(format!(
                "{clone} exists but is not a member of {base}: not a clone this rotator made"
            ));
        }
    }
    let role = format!("\"{}\"", pending.username);
    let verifier = postgres_protocol::password::scram_sha_256(pending.password.as_bytes());
    let sql = Zeroizing::new(if exists.is_some() {
        format!("ALTER ROLE {role} WITH PASSWORD '{verifier}'")
    } else {
        format!(
            "CREATE ROLE {role} WITH LOGIN PASSWORD '{verifier}'; GRANT \"{}\" TO {role}",
            current.username
        )
    });
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.as_str()))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("setting the password of {} failed: {e}", pending.username))?;
    let _ = conn.close().await;
    Ok(())
}

/// MySQL/MariaDB, alternating users: as the administrator, create NAME_clone on the same host
/// with NAME's grants (replayed from SHOW GRANTS, as AWS's template does) or give the idle user
/// its new password (MariaDB: the mysql_native_password hash, never the password).
async fn set_mysql_alternating(
    tls: &DbTls,
    master: &Login,
    current: &Login,
    pending: &Login,
) -> Result<(), String> {
    let mut conn = mysql_connect(tls, master)
        .await
        .map_err(|e| format!("cannot sign in as the administrator: {e}"))?;
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let host: String = sqlx::query_scalar("SELECT Host FROM mysql.user WHERE User = ? LIMIT 1")
        .bind(&current.username)
        .fetch_optional(&mut conn)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the database has no user {}", current.username))?;
    let exists: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?")
            .bind(&pending.username)
            .bind(&host)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    let quoted_host = host.replace('\'', "''");
    let account = |user: &str| format!("'{user}'@'{quoted_host}'");
    let mariadb = version.contains("MariaDB");
    let hash = native_password_hash(&pending.password);
    let escaped = Zeroizing::new(pending.password.replace('\\', "\\\\").replace('\'', "''"));
    let run = |sql: Zeroizing<String>| sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()));
    // The idle user gets exactly the current user's privileges: everything revoked, then the
    // current grants (and partial revokes) replayed. Accounts with global privileges or the
    // right to grant are not rotated this way: the administrator would copy those powers.
    let grants: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SHOW GRANTS FOR {}",
        account(&current.username)
    )))
    .fetch_all(&mut conn)
    .await
    .map_err(|e| format!("reading the grants of {} failed: {e}", current.username))?;
    // An existing idle user is checked too: its password is about to be set by the
    // administrator.
    let mut checked = grants.clone();
    if exists > 0 {
        let theirs: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SHOW GRANTS FOR {}",
            account(&pending.username)
        )))
        .fetch_all(&mut conn)
        .await
        .map_err(|e| format!("reading the grants of {} failed: {e}", pending.username))?;
        checked.extend(theirs);
    }
    for line in &checked {
        let upper = line.to_ascii_uppercase();
        let global = upper.contains(" ON *.* ") && !upper.starts_with("GRANT USAGE ON *.* ");
        if upper.contains("WITH GRANT OPTION") || upper.starts_with("GRANT PROXY") || global {
            return Err(format!(
                "{} or {} holds global or grantable privileges: alternating-users rotation does not touch them",
                current.username, pending.username
            ));
        }
    }
    if exists == 0 {
        let create = Zeroizing::new(if mariadb {
            format!(
                "CREATE USER {} IDENTIFIED BY PASSWORD '{hash}'",
                account(&pending.username)
            )
        } else {
            format!(
                "CREATE USER {} IDENTIFIED BY '{}'",
                account(&pending.username),
                escaped.as_str()
            )
        });
        run(create)
            .execute(&mut conn)
            .await
            .map_err(|e| format!("creating {} failed: {e}", pending.username))?;
    }
    let mut statements = Vec::new();
    for line in &grants {
        let upper = line.to_ascii_uppercase();
        // The account is at the end: cut at the last TO (grants) or FROM (partial revokes).
        if let Some(i) = line.rfind(" TO ").filter(|_| upper.starts_with("GRANT ")) {
            statements.push(format!("{} TO {}", &line[..i], account(&pending.username)));
        } else if let Some(i) = line
            .rfind(" FROM ")
            .filter(|_| upper.starts_with("REVOKE "))
        {
            statements.push(format!(
                "{} FROM {}",
                &line[..i],
                account(&pending.username)
            ));
        }
    }
    statements.insert(
        0,
        format!(
            "REVOKE ALL PRIVILEGES, GRANT OPTION FROM {}",
            account(&pending.username)
        ),
    );
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("giving {} its privileges failed: {e}", pending.username))?;
    }
    let set = Zeroizing::new(if mariadb {
        format!("SET PASSWORD FOR {} = '{hash}'", account(&pending.username))
    } else {
        format!(
            "ALTER USER {} IDENTIFIED BY '{}'",
            account(&pending.username),
            escaped.as_str()
        )
    });
    run(set)
        .execute(&mut conn)
        .await
        .map_err(|e| format!("setting the password of {} failed: {e}", pending.username))?;
    let _ = conn.close().await;
    Ok(())
}

/// mysql_native_password's stored form: `*` + uppercase hex of SHA1(SHA1(password)).
fn native_password_hash(password: &str) -> String {
    use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
    let inner = digest(&SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
    let outer = digest(&SHA1_FOR_LEGACY_USE_ONLY, inner.as_ref());
    format!("*{}", hex::encode_upper(outer.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user: &str) -> Login {
        Login {
            host: "db".into(),
            port: 5432,
            username: user.into(),
            password: Zeroizing::new("p".into()),
            dbname: None,
        }
    }

    #[test]
    fn alternating_pairs_never_reach_the_administrator() {
        let admin = login("dbadmin");
        assert!(check_alternating_names(&admin, &login("app"), &login("app_clone")).is_ok());
        assert!(check_alternating_names(&admin, &login("app_clone"), &login("app")).is_ok());
        // Not the other of the pair.
        assert!(check_alternating_names(&admin, &login("app"), &login("other")).is_err());
        for user in [
            "dbadmin",
            "dbadmin_clone",
            "root_clone",
            "postgres_clone",
            "pg_monitor",
        ] {
            assert!(
                check_alternating_names(&admin, &login(user), &login(&alternate(user))).is_err(),
                "{user}"
            );
        }
        assert!(check_alternating_names(&admin, &login("a'b"), &login("a'b_clone")).is_err());
    }

    #[test]
    fn native_password_hash_matches_mysql() {
        // SELECT PASSWORD('password') on MariaDB / MySQL 5.7.
        assert_eq!(
            native_password_hash("password"),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
    }
}
