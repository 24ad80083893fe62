//! `starling passwd`: edits a Mosquitto-format password file, as `mosquitto_passwd` does.
//! The file format, hashing and line editing live in `starling_broker::auth`; this module only
//! reads the password, and reads and writes the file.

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use starling_broker::auth::{
    hash_password_argon2id, hash_password_pbkdf2, remove_user, set_user, PasswordFile,
    MOSQUITTO_DEFAULT_ITERATIONS,
};
use std::{
    fs,
    io::{BufRead, IsTerminal, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

/// Options of `starling passwd`, those of `mosquitto_passwd` plus the hash choice.
#[derive(Debug, Args)]
pub(crate) struct PasswdArgs {
    /// Create the file, replacing an existing one.
    #[arg(short = 'c')]
    create: bool,
    /// Batch mode: the password is the last argument instead of being asked for.
    #[arg(short = 'b')]
    batch: bool,
    /// Delete the user instead of adding or updating it.
    #[arg(short = 'D')]
    delete: bool,
    /// Upgrade a plain-text file: every `user:password` line gets its password hashed.
    #[arg(short = 'U')]
    upgrade: bool,
    /// Hash to write: pbkdf2 (Mosquitto 2's `$7$`, read by Mosquitto and Starling) or
    /// argon2id (read by Starling only).
    #[arg(long, short = 'H', value_enum, default_value_t = HashKind::Pbkdf2)]
    hash: HashKind,
    /// PBKDF2 iterations (Mosquitto's default is 101).
    #[arg(long, short = 'I', default_value_t = MOSQUITTO_DEFAULT_ITERATIONS)]
    iterations: u32,
    /// The password file.
    file: PathBuf,
    /// The user to add, update or delete.
    username: Option<String>,
    /// The password (with -b only).
    password: Option<String>,
}

/// The hash written for new passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HashKind {
    /// PBKDF2-HMAC-SHA512 in Mosquitto 2's `$7$` format.
    #[value(alias = "sha512-pbkdf2")]
    Pbkdf2,
    /// Argon2id PHC string.
    Argon2id,
}

impl PasswdArgs {
    fn hash(&self, password: &str) -> String {
        match self.hash {
            HashKind::Pbkdf2 => hash_password_pbkdf2(password, self.iterations),
            HashKind::Argon2id => hash_password_argon2id(password),
        }
    }
}

/// What the arguments ask for, once their combination is checked.
enum Action<'a> {
    Set { user: &'a str, password: String },
    Delete { user: &'a str },
    Upgrade,
}

pub(crate) fn run(args: PasswdArgs) -> anyhow::Result<()> {
    let action = action(&args)?;
    let file = resolve(&args.file);
    let existing = if args.create {
        None
    } else {
        match fs::read_to_string(&file) {
            Ok(text) => Some(text),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot open password file {}", args.file.display()))
            }
        }
    };
    let text = existing.as_deref().unwrap_or("");
    let updated = match action {
        Action::Set { user, password } => set_user(text, user, &args.hash(&password))?,
        Action::Delete { user } => match remove_user(text, user) {
            Some(updated) => updated,
            None => bail!(
                "user {user} not found in password file {}",
                args.file.display()
            ),
        },
        Action::Upgrade => upgrade(text, &args)?,
    };
    write_atomically(&file, updated.as_bytes(), existing.is_some())
        .with_context(|| format!("cannot write password file {}", args.file.display()))
}

fn action(args: &PasswdArgs) -> anyhow::Result<Action<'_>> {
    if args.create && (args.delete || args.upgrade) {
        bail!("-c cannot be combined with -D or -U");
    }
    if args.delete && args.upgrade {
        bail!("-D and -U cannot be combined");
    }
    if args.upgrade {
        if args.username.is_some() || args.batch {
            bail!("-U takes only the password file: starling passwd -U FILE");
        }
        return Ok(Action::Upgrade);
    }
    let Some(user) = args.username.as_deref() else {
        bail!("missing user name: starling passwd [-c] [-b] [-D] FILE USER [PASSWORD]");
    };
    if args.delete {
        if args.batch || args.password.is_some() {
            bail!("-D takes no password: starling passwd -D FILE USER");
        }
        return Ok(Action::Delete { user });
    }
    let password = match (&args.password, args.batch) {
        (Some(p), true) => p.clone(),
        (None, true) => bail!("-b needs the password: starling passwd -b FILE USER PASSWORD"),
        (Some(_), false) => bail!("a password on the command line needs -b"),
        (None, false) => read_password()?,
    };
    if password.is_empty() {
        bail!("empty password");
    }
    Ok(Action::Set { user, password })
}

/// Asks twice on the terminal (no echo), or reads one line when standard input is not one.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("cannot read password")?;
        let again =
            rpassword::prompt_password("Reenter password: ").context("cannot read password")?;
        if first != again {
            bail!("passwords do not match");
        }
        return Ok(first);
    }
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read password from standard input")?;
    if read == 0 {
        bail!("no password on standard input");
    }
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned())
}

/// Hashes every `user:password` line of a plain-text file. Unlike `mosquitto_passwd -U`, a
/// line that already holds a hash Starling reads is kept, so running it twice is harmless.
fn upgrade(text: &str, args: &PasswdArgs) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len() * 4);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start();
        let keep = trimmed.is_empty()
            || trimmed.starts_with('#')
            || PasswordFile::parse(line).is_ok_and(|f| !f.is_empty());
        if keep {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let Some((user, password)) = line.split_once(':') else {
            bail!("line {}: not user:password", n + 1);
        };
        let entry =
            set_user("", user, &args.hash(password)).with_context(|| format!("line {}", n + 1))?;
        out.push_str(&entry);
    }
    Ok(out)
}

/// Follows a symbolic link, so the rename replaces the file it points to, not the link.
fn resolve(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Writes a temporary file next to `path` and renames it over `path`: readers (a broker
/// reloading on SIGHUP) see the old file or the new one, never half of one. A new file is
/// 0600; a replaced one keeps its permissions.
fn write_atomically(path: &Path, contents: &[u8], keep_mode: bool) -> anyhow::Result<()> {
    let mode = keep_mode
        .then(|| fs::metadata(path).ok())
        .flatten()
        .map_or(0o600, |m| m.permissions().mode() & 0o7777);
    let name = path
        .file_name()
        .context("the password file path has no file name")?
        .to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    Ok(result?)
}
