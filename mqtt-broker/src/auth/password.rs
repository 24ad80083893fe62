//! Password files in Mosquitto's `password_file` format ([`PasswordFile`]).

use super::{source::Source, AuthDecision, Authenticator, BoxFuture, ConnectCredentials};
use argon2::{
    password_hash::{PasswordHash, SaltString},
    Argon2, PasswordHasher, PasswordVerifier,
};
use base64::{
    alphabet,
    engine::{general_purpose, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine,
};
use sha2::{Digest, Sha512};
use starling_codec::ReasonCode;
use std::{collections::HashMap, fmt, path::Path, str::FromStr, sync::Arc};
use subtle::ConstantTimeEq;

/// Iterations `mosquitto_passwd` uses for `$7$` hashes unless told otherwise. Low by today's
/// standards: prefer [`hash_password_argon2id`] where Mosquitto need not read the file.
pub const MOSQUITTO_DEFAULT_ITERATIONS: u32 = 101;

/// Length of a SHA-512 digest, the only hash length Mosquitto accepts for `$6$` and `$7$`.
const HASH_LEN: usize = 64;
/// Salt length `mosquitto_passwd` generates.
const MOSQUITTO_SALT_LEN: usize = 12;
/// Mosquitto's limit on user names and hashes in a password file.
const MAX_FIELD_LEN: usize = 65535;

/// Decodes Mosquitto's base64 (OpenSSL, padded) and tolerates missing padding.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A problem in a password file, or with an entry to be written into one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The file could not be read.
    #[error("cannot read password file: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not `user:hash` with a supported hash.
    #[error("password file line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A user name or hash given to [`set_user`] cannot be written as a password file line.
    #[error("invalid password file entry: {reason}")]
    InvalidEntry {
        /// What is wrong.
        reason: &'static str,
    },
}

#[derive(Clone)]
enum Hash {
    /// `$6$`: SHA-512(password ‖ salt).
    Sha512 { salt: Vec<u8>, hash: [u8; HASH_LEN] },
    /// `$7$`: PBKDF2-HMAC-SHA512.
    Pbkdf2Sha512 {
        iterations: u32,
        salt: Vec<u8>,
        hash: [u8; HASH_LEN],
    },
    /// A validated argon2id PHC string (parsed again per check: `PasswordHash` borrows).
    Argon2id(String),
}

impl Hash {
    /// Whether `password` hashes to this hash (comparison in constant time).
    fn verify(&self, password: &[u8]) -> bool {
        match self {
            Hash::Sha512 { salt, hash } => {
                let digest = Sha512::new()
                    .chain_update(password)
                    .chain_update(salt)
                    .finalize();
                digest.as_slice().ct_eq(hash).into()
            }
            Hash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => {
                let mut out = [0u8; HASH_LEN];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, *iterations, &mut out);
                out.ct_eq(hash).into()
            }
            // `verify_password` takes the parameters from the string and compares the
            // outputs in constant time.
            Hash::Argon2id(phc) => PasswordHash::new(phc)
                .is_ok_and(|h| Argon2::default().verify_password(password, &h).is_ok()),
        }
    }
}

fn decode_hash(b64: &str) -> Result<[u8; HASH_LEN], &'static str> {
    let bytes = BASE64_LENIENT
        .decode(b64)
        .map_err(|_| "hash is not valid base64")?;
    <[u8; HASH_LEN]>::try_from(bytes.as_slice()).map_err(|_| "hash is not 64 bytes long")
}

fn decode_salt(b64: &str) -> Result<Vec<u8>, &'static str> {
    match BASE64_LENIENT.decode(b64) {
        Ok(salt) if !salt.is_empty() => Ok(salt),
        Ok(_) => Err("empty salt"),
        Err(_) => Err("salt is not valid base64"),
    }
}

fn parse_hash(s: &str) -> Result<Hash, &'static str> {
    if let Some(rest) = s.strip_prefix("$7$") {
        let fields: Vec<&str> = rest.split('$').collect();
        let [iterations, salt, hash] = fields[..] else {
            return Err("$7$ hash must be $7$<iterations>$<salt>$<hash>");
        };
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or("$7$ iterations must be a positive integer")?;
        return Ok(Hash::Pbkdf2Sha512 {
            iterations,
            salt: decode_salt(salt)?,
            hash: decode_hash(hash)?,
        });
    }
    if let Some(rest) = s.strip_prefix("$6$") {
        let fields: Vec<&str> = rest.split('$').collect();
        let [salt, hash] = fields[..] else {
            return Err("$6$ hash must be $6$<salt>$<hash>");
        };
        return Ok(Hash::Sha512 {
            salt: decode_salt(salt)?,
            hash: decode_hash(hash)?,
        });
    }
    if s.starts_with("$argon2id$") {
        let parsed = PasswordHash::new(s).map_err(|_| "malformed argon2id PHC string")?;
        // Parameters out of range would only fail at check time: refuse them now.
        if parsed.hash.is_none() || argon2::Params::try_from(&parsed).is_err() {
            return Err("argon2id PHC string without a valid hash or parameters");
        }
        return Ok(Hash::Argon2id(s.to_owned()));
    }
    if s.starts_with('$') {
        Err("unsupported hash (expected $7$, $6$ or $argon2id$)")
    } else {
        Err("plain-text password: hash the file with `mosquitto_passwd -U`")
    }
}

/// The users of a password file.
#[derive(Default)]
struct Users {
    by_name: HashMap<String, Hash>,
    /// Checked, and its answer ignored, when the user is unknown: an unknown user then costs
    /// about as much time as a wrong password, so timing does not tell which names exist.
    decoy: Option<Hash>,
}

impl Users {
    fn parse(text: &str) -> Result<Users, PasswordError> {
        let mut users = Users::default();
        for (i, line) in lines(text).enumerate() {
            let err = |reason| PasswordError::Line {
                line: i + 1,
                reason,
            };
            let Some((user, hash)) = entry(line) else {
                if is_blank_or_comment(line) {
                    continue;
                }
                return Err(err("expected user:hash"));
            };
            if user.is_empty() {
                return Err(err("empty user name"));
            }
            if user.len() > MAX_FIELD_LEN || hash.len() > MAX_FIELD_LEN {
                return Err(err("user name or hash longer than 65535 bytes"));
            }
            let hash = parse_hash(hash).map_err(err)?;
            if users.by_name.contains_key(user) {
                // Mosquitto would keep both and use one; which one is not obvious to a reader.
                return Err(err("user already listed on an earlier line"));
            }
            users.decoy.get_or_insert_with(|| hash.clone());
            users.by_name.insert(user.to_owned(), hash);
        }
        Ok(users)
    }

    fn verify(&self, user: &str, password: &[u8]) -> bool {
        match self.by_name.get(user) {
            Some(hash) => hash.verify(password),
            None => {
                if let Some(decoy) = &self.decoy {
                    let _ = decoy.verify(password);
                }
                false
            }
        }
    }
}

// Never print hashes: a Debug dump can end up in a log.
impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Users").field("names", &names).finish()
    }
}

/// The lines of a file's text (`\n` or `\r\n`), without a leading byte order mark.
fn lines(text: &str) -> std::str::Lines<'_> {
    text.strip_prefix('\u{feff}').unwrap_or(text).lines()
}

fn is_blank_or_comment(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#')
}

/// The trimmed user name and hash of a `user:hash` line (not a comment).
fn entry(line: &str) -> Option<(&str, &str)> {
    if is_blank_or_comment(line) {
        return None;
    }
    let (user, hash) = line.split_once(':')?;
    Some((user.trim(), hash.trim()))
}

/// A password file; an [`Authenticator`].
///
/// The format is that of Mosquitto's `password_file` option: one `user:hash` line per user,
/// `#` comments and blank lines ignored, blanks around the user name and the hash trimmed.
///
/// Supported hashes:
/// - `$7$<iterations>$<base64 salt>$<base64 hash>`: PBKDF2-HMAC-SHA512 with a 64-byte output,
///   what `mosquitto_passwd` writes since Mosquitto 2.0 (12-byte salt, 101 iterations unless
///   `-I` says otherwise);
/// - `$6$<base64 salt>$<base64 hash>`: SHA-512 over the password then the salt, the default
///   of Mosquitto 1.6 and earlier (`mosquitto_passwd -H sha512`);
/// - `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`: argon2id in the PHC string format, which
///   Starling writes ([`hash_password_argon2id`]) and Mosquitto does not read.
///
/// Where Mosquitto skips a line it cannot use (with a log line), parsing here fails with the
/// line number, so a typo never silently locks a user out.
///
/// Clones share the loaded users: [`reload`](PasswordFile::reload) on one clone (say, kept by
/// a SIGHUP handler) changes what every clone (say, the one the broker holds as
/// `Arc<dyn Authenticator>`) checks against. Checks in progress finish with the users they
/// started with.
///
/// The file decides only about clients that present a user name. Whether clients without one
/// are admitted is the broker's anonymous policy (per listener, as `allow_anonymous` in
/// Mosquitto 2); asked directly, `PasswordFile` refuses them with 0x87 Not authorized (wrap
/// any authenticator in [`DenyAnonymous`](super::DenyAnonymous) to get the same behaviour).
#[derive(Debug, Clone)]
pub struct PasswordFile {
    source: Arc<Source<Users>>,
}

impl Default for PasswordFile {
    /// A file with no users (every user name is refused).
    fn default() -> Self {
        PasswordFile {
            source: Arc::new(Source::new(None, Users::default())),
        }
    }
}

impl PasswordFile {
    /// Reads and parses the file at `path`, which [`reload`](PasswordFile::reload) reads
    /// again.
    pub fn load(path: impl AsRef<Path>) -> Result<PasswordFile, PasswordError> {
        let path = path.as_ref();
        let users = Users::parse(&std::fs::read_to_string(path)?)?;
        Ok(PasswordFile {
            source: Arc::new(Source::new(Some(path), users)),
        })
    }

    /// Parses the text of a password file.
    pub fn parse(text: &str) -> Result<PasswordFile, PasswordError> {
        Ok(PasswordFile {
            source: Arc::new(Source::new(None, Users::parse(text)?)),
        })
    }

    /// Reads the file again (for SIGHUP). On error the users loaded before stay in force.
    /// A file made by [`parse`](PasswordFile::parse) has no path: its users stay as they are.
    pub fn reload(&self) -> Result<(), PasswordError> {
        if let Some(path) = self.source.path() {
            let users = Users::parse(&std::fs::read_to_string(path)?)?;
            self.source.replace(users);
        }
        Ok(())
    }

    /// Replaces the users with those of `text`. On error the users stay as they were.
    pub fn reload_from_str(&self, text: &str) -> Result<(), PasswordError> {
        self.source.replace(Users::parse(text)?);
        Ok(())
    }

    /// The path the file was loaded from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.source.path()
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.source.snapshot().by_name.len()
    }

    /// Whether the file has no users.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `user` has a line in the file.
    pub fn contains_user(&self, user: &str) -> bool {
        self.source.snapshot().by_name.contains_key(user)
    }

    /// Checks a user name and password. Deliberately slow (that is what password hashes are
    /// for): call it from a blocking context; [`Authenticator::authenticate`] does.
    pub fn verify(&self, user: &str, password: &[u8]) -> bool {
        self.source.snapshot().verify(user, password)
    }
}

impl FromStr for PasswordFile {
    type Err = PasswordError;

    /// Same as [`PasswordFile::parse`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PasswordFile::parse(text)
    }
}

impl Authenticator for PasswordFile {
    /// No user name: 0x87 Not authorized. Unknown user, missing or wrong password: 0x86 Bad
    /// User Name or Password. The hash is checked on tokio's blocking pool so it never stalls
    /// the connection tasks (inline when called outside a tokio runtime).
    fn authenticate<'a>(&'a self, c: &'a ConnectCredentials) -> BoxFuture<'a, AuthDecision> {
        Box::pin(async move {
            let Some(user) = c.username.clone() else {
                return AuthDecision::Deny(ReasonCode::NotAuthorized);
            };
            let Some(password) = c.password.clone() else {
                return AuthDecision::Deny(ReasonCode::BadUserNameOrPassword);
            };
            let users = self.source.snapshot();
            let verified = match tokio::runtime::Handle::try_current() {
                Ok(runtime) => runtime
                    .spawn_blocking(move || users.verify(&user, &password))
                    .await
                    // The blocking pool is gone only when the runtime is shutting down.
                    .map_err(|_| ReasonCode::ServerUnavailable),
                Err(_) => Ok(users.verify(&user, &password)),
            };
            match verified {
                Ok(true) => AuthDecision::Allow,
                Ok(false) => AuthDecision::Deny(ReasonCode::BadUserNameOrPassword),
                Err(reason) => AuthDecision::Deny(reason),
            }
        })
    }
}

/// Random salt bytes from the operating system.
fn random_salt<const N: usize>() -> [u8; N] {
    let mut salt = [0u8; N];
    if getrandom::getrandom(&mut salt).is_err() {
        // No OS randomness (practically never). A salt only has to be unique, not secret, so
        // time and a process-wide counter still make a usable one, unlike all zeros.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = Sha512::new()
            .chain_update(nanos.to_le_bytes())
            .chain_update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes())
            .chain_update(std::process::id().to_le_bytes())
            .finalize();
        for (byte, s) in salt.iter_mut().zip(seed.iter().cycle()) {
            *byte = *s;
        }
    }
    salt
}

/// Hashes a password in Mosquitto 2's `$7$` format (PBKDF2-HMAC-SHA512, 12-byte random salt,
/// 64-byte hash), which both Mosquitto and Starling read. `iterations` below 1 count as 1;
/// [`MOSQUITTO_DEFAULT_ITERATIONS`] is what `mosquitto_passwd` uses.
pub fn hash_password_pbkdf2(password: impl AsRef<[u8]>, iterations: u32) -> String {
    let iterations = iterations.max(1);
    let salt = random_salt::<MOSQUITTO_SALT_LEN>();
    let mut hash = [0u8; HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_ref(), &salt, iterations, &mut hash);
    format!(
        "$7${iterations}${}${}",
        general_purpose::STANDARD.encode(salt),
        general_purpose::STANDARD.encode(hash)
    )
}

/// Hashes a password with argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, 1 lane,
/// as OWASP recommends; 16-byte random salt) as a PHC string. Starling reads it; Mosquitto
/// does not.
pub fn hash_password_argon2id(password: impl AsRef<[u8]>) -> String {
    // `Argon2::default()` is argon2id, version 0x13, default parameters.
    let hashed = SaltString::encode_b64(&random_salt::<16>()).and_then(|salt| {
        Argon2::default()
            .hash_password(password.as_ref(), &salt)
            .map(|h| h.to_string())
    });
    // Both steps fail only on out-of-range inputs, which the fixed salt length and default
    // parameters rule out; a strong PBKDF2 line is still a valid answer if they ever did.
    hashed.unwrap_or_else(|_| hash_password_pbkdf2(password, 100_000))
}

fn check_user_name(user: &str) -> Result<(), PasswordError> {
    let invalid = |reason| Err(PasswordError::InvalidEntry { reason });
    if user.is_empty() {
        return invalid("empty user name");
    }
    if user.len() > MAX_FIELD_LEN {
        return invalid("user name longer than 65535 bytes");
    }
    if user.contains(':') {
        return invalid("user name contains ':'");
    }
    if user.chars().any(char::is_control) {
        return invalid("user name contains a control character");
    }
    if user.trim() != user {
        return invalid("user name starts or ends with white space");
    }
    if user.starts_with('#') {
        return invalid("user name starts with '#' (a comment)");
    }
    Ok(())
}

/// The text of a password file with `user`'s line set to `user:hash`: its first line is
/// replaced in place (later duplicates dropped) or, for a new user, a line is appended.
/// Comments, blank lines and other users' lines are kept; lines end with `\n`.
///
/// `hash` must be one this module reads (from [`hash_password_pbkdf2`],
/// [`hash_password_argon2id`], or `mosquitto_passwd`), so the result never fails to load
/// because of this entry.
pub fn set_user(text: &str, user: &str, hash: &str) -> Result<String, PasswordError> {
    check_user_name(user)?;
    parse_hash(hash).map_err(|reason| PasswordError::InvalidEntry { reason })?;
    let new_line = format!("{user}:{hash}");
    let mut out = String::with_capacity(text.len() + new_line.len() + 1);
    let mut written = false;
    for line in lines(text) {
        if entry(line).is_some_and(|(u, _)| u == user) {
            if written {
                continue;
            }
            out.push_str(&new_line);
            written = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !written {
        out.push_str(&new_line);
        out.push('\n');
    }
    Ok(out)
}

/// The text of a password file without `user`'s lines, or `None` if it has none. Everything
/// else is kept; lines end with `\n`.
pub fn remove_user(text: &str, user: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut removed = false;
    for line in lines(text) {
        if entry(line).is_some_and(|(u, _)| u == user) {
            removed = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    removed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use starling_codec::ProtocolVersion;

    // Generated once with mosquitto_passwd 2.0.11 (Debian 12):
    //   mosquitto_passwd -b -c pw alice secret
    //   mosquitto_passwd -I 1000 -b pw erin 'pässwörd'
    //   mosquitto_passwd -H sha512 -b pw dave hunter2
    const ALICE: &str = "alice:$7$101$XCKSUCGXArL0RPDz$lx+t7LjMdTHLCxpQsMmskWlmwKShYcyS8b9huRDepNXjGCr1MVOBUTMLkJ9LY3nCk0AILMnrD7J8sX4LOnG4Pw==";
    const ERIN: &str = "erin:$7$1000$W4faGHPbv2D8/g7H$QVgUP5v5z/eCEklyn+X7homKaRz7QwbM+AmSR8DqfwKDUqwNF2JKjuzGwfM9F0c12AzkV9p/RzbMKcD6qWce5w==";
    const DAVE: &str = "dave:$6$74GMsj9NgGet310p$apW1PHlDqIf/ke9GVIvqcQPvKJwWdBQ86CUF4ZZyp5VFFuFWIPwXo0LTS3Mi2nQ5QkJPGFIlviIeqa4zMCefng==";

    fn fixture() -> String {
        format!("# users\n\n{ALICE}\n  # indented comment\r\n{ERIN}\r\n{DAVE}\n")
    }

    fn credentials(user: Option<&str>, password: Option<&'static [u8]>) -> ConnectCredentials {
        let mut c = ConnectCredentials::new("client", ProtocolVersion::V5);
        c.username = user.map(Into::into);
        c.password = password.map(bytes::Bytes::from_static);
        c
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(std::path::PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "starling-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn mosquitto_fixture_lines_verify() {
        let f = PasswordFile::parse(&fixture()).unwrap();
        assert_eq!(f.len(), 3);
        assert!(f.verify("alice", b"secret"));
        assert!(!f.verify("alice", b"Secret"));
        assert!(!f.verify("alice", b"secret "));
        // (PBKDF2-HMAC pads short keys with zeros, so "secret\0" passes as it does in
        // Mosquitto, which even stops at the first NUL: no secret is learned that way.)
        assert!(f.verify("erin", "pässwörd".as_bytes()));
        assert!(!f.verify("erin", b"passwort"));
        // $6$: Mosquitto 1.6's salted SHA-512.
        assert!(f.verify("dave", b"hunter2"));
        assert!(!f.verify("dave", b"hunter3"));
        assert!(!f.verify("bob", b"secret"));
        assert!(!f.verify("", b""));
    }

    #[test]
    fn mosquitto_passwd_output_verifies() {
        let dir = TempDir::new("passwd");
        let path = dir.0.join("pw");
        let run = |args: &[&str]| {
            std::process::Command::new("mosquitto_passwd")
                .args(args)
                .output()
        };
        let p = path.to_str().unwrap();
        match run(&["-b", "-c", p, "carol", "p@ss:word"]) {
            Ok(out) => assert!(out.status.success(), "{out:?}"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("skipped: mosquitto_passwd not installed (scripts/install-test-deps.sh)");
                return;
            }
            Err(e) => panic!("mosquitto_passwd: {e}"),
        }
        for args in [
            ["-I", "2000", "-b", p, "frank", "ünïcödé"].as_slice(),
            &["-H", "sha512", "-b", p, "grace", "old style"],
            &["-b", p, "heidi", ""],
        ] {
            let out = run(args).unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
        }
        let f = PasswordFile::load(&path).unwrap();
        assert_eq!(f.len(), 4);
        assert!(f.verify("carol", b"p@ss:word"));
        assert!(!f.verify("carol", b"p@ss"));
        assert!(f.verify("frank", "ünïcödé".as_bytes()));
        assert!(f.verify("grace", b"old style"));
        assert!(!f.verify("grace", b"old  style"));
        assert!(f.verify("heidi", b""));
        assert!(!f.verify("heidi", b" "));

        // mosquitto_passwd -D deletes as remove_user does.
        let out = run(&["-D", p, "carol"]).unwrap();
        assert!(out.status.success(), "{out:?}");
        let f = PasswordFile::load(&path).unwrap();
        assert!(!f.contains_user("carol") && f.contains_user("frank"));
    }

    #[test]
    fn our_hashes_round_trip() {
        let argon = hash_password_argon2id("one");
        assert!(
            argon.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{argon}"
        );
        let pbkdf2 = hash_password_pbkdf2("two", MOSQUITTO_DEFAULT_ITERATIONS);
        let fields: Vec<&str> = pbkdf2.split('$').collect();
        assert_eq!(fields[..3], ["", "7", "101"]);
        assert_eq!(BASE64_LENIENT.decode(fields[3]).unwrap().len(), 12);
        assert_eq!(BASE64_LENIENT.decode(fields[4]).unwrap().len(), 64);
        // Fresh salt each time.
        assert_ne!(hash_password_argon2id("one"), argon);
        assert_ne!(hash_password_pbkdf2("two", 101), pbkdf2);

        let text = format!(
            "a:{argon}\nb:{pbkdf2}\nc:{}\n",
            hash_password_pbkdf2(b"", 0)
        );
        let f = PasswordFile::parse(&text).unwrap();
        assert!(f.verify("a", b"one") && !f.verify("a", b"two"));
        assert!(f.verify("b", b"two") && !f.verify("b", b"one"));
        assert!(f.verify("c", b"") && !f.verify("c", b"x"));
    }

    #[test]
    fn blanks_around_fields_are_trimmed_as_mosquitto_does() {
        let hash = ALICE.trim_start_matches("alice:");
        let f = PasswordFile::parse(&format!("  alice \t:  {hash}  \n")).unwrap();
        assert!(f.verify("alice", b"secret"));
        assert!(PasswordFile::parse("\u{feff}# bom\n").unwrap().is_empty());
    }

    #[test]
    fn malformed_lines_report_their_number() {
        let good = ALICE;
        let hash = &ALICE["alice:".len()..];
        let short = "$7$101$XCKSUCGXArL0RPDz$lx+t7LjMdTHLCxpQsMmskWlmwKShYcyS8b9huRDepNXjGCr1";
        for (text, line) in [
            ("no colon here\n".to_owned(), 1),
            (format!("{good}\nbob:$7$x$y$z"), 2),
            (format!("{good}\n\n# c\nbob:$7$0${}", &hash[7..]), 4),
            ("c:plain".to_owned(), 1),
            ("c:".to_owned(), 1),
            (format!(":{hash}"), 1),
            (format!("{good}\n{good}"), 2),
            (format!("bob:{short}"), 1),
            ("bob:$7$101$!!!$AAAA".to_owned(), 1),
            ("bob:$7$101$$AAAA".to_owned(), 1),
            ("bob:$6$onlysalt".to_owned(), 1),
            ("bob:$5$abc$def".to_owned(), 1),
            (
                "bob:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ".to_owned(),
                1,
            ),
            (
                "bob:$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".to_owned(),
                1,
            ),
            (
                "bob:$argon2id$v=19$m=1,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".to_owned(),
                1,
            ),
        ] {
            match PasswordFile::parse(&text) {
                Err(e @ PasswordError::Line { line: l, .. }) => {
                    assert_eq!(l, line, "{text}: {e}");
                    assert!(e
                        .to_string()
                        .starts_with(&format!("password file line {line}: ")));
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn debug_output_shows_names_not_hashes() {
        let f = PasswordFile::parse(&fixture()).unwrap();
        let debug = format!("{f:?}");
        assert!(debug.contains("alice") && debug.contains("dave"), "{debug}");
        assert!(!debug.contains("XCKSUCGX"), "{debug}");
    }

    #[test]
    fn set_and_remove_users_keep_the_rest_of_the_file() {
        let h1 = hash_password_pbkdf2("one", 101);
        let h2 = hash_password_argon2id("two");
        let text = set_user("", "bob", &h1).unwrap();
        assert_eq!(text, format!("bob:{h1}\n"));

        let text = format!("# team\n{ALICE}\r\n\n{DAVE}");
        let added = set_user(&text, "bob", &h1).unwrap();
        assert_eq!(added, format!("# team\n{ALICE}\n\n{DAVE}\nbob:{h1}\n"));
        let updated = set_user(&added, "alice", &h2).unwrap();
        assert_eq!(updated, format!("# team\nalice:{h2}\n\n{DAVE}\nbob:{h1}\n"));
        let f = PasswordFile::parse(&updated).unwrap();
        assert!(
            f.verify("alice", b"two") && f.verify("bob", b"one") && f.verify("dave", b"hunter2")
        );

        let removed = remove_user(&updated, "dave").unwrap();
        assert_eq!(removed, format!("# team\nalice:{h2}\n\nbob:{h1}\n"));
        assert_eq!(remove_user(&removed, "dave"), None);
        // A commented-out line is not the user's.
        assert_eq!(remove_user(&format!("# {ALICE}\n"), "alice"), None);

        // Duplicates (which parse refuses) collapse into the one line set_user writes.
        let dup = format!("{ALICE}\n{ALICE}\n");
        assert_eq!(
            set_user(&dup, "alice", &h1).unwrap(),
            format!("alice:{h1}\n")
        );
    }

    #[test]
    fn set_user_refuses_entries_that_would_not_read_back() {
        let h = hash_password_pbkdf2("x", 1);
        for user in ["", "a:b", "a\nb", " a", "a ", "#a", "tab\t"] {
            assert!(
                matches!(
                    set_user("", user, &h),
                    Err(PasswordError::InvalidEntry { .. })
                ),
                "{user:?}"
            );
        }
        for hash in ["", "plain", "$7$1$AAAA$AAAA", "$1$x"] {
            assert!(
                matches!(
                    set_user("", "u", hash),
                    Err(PasswordError::InvalidEntry { .. })
                ),
                "{hash:?}"
            );
        }
    }

    #[test]
    fn reload_rereads_the_file_and_keeps_the_old_users_on_error() {
        let dir = TempDir::new("reload");
        let path = dir.0.join("pw");
        std::fs::write(&path, format!("{ALICE}\n")).unwrap();
        let f = PasswordFile::load(&path).unwrap();
        let held_by_broker = f.clone();
        assert_eq!(f.path(), Some(path.as_path()));
        assert!(held_by_broker.verify("alice", b"secret"));

        std::fs::write(&path, format!("{DAVE}\n")).unwrap();
        f.reload().unwrap();
        assert!(!held_by_broker.verify("alice", b"secret"));
        assert!(held_by_broker.verify("dave", b"hunter2"));

        std::fs::write(&path, "dave:oops\n").unwrap();
        assert!(matches!(
            f.reload(),
            Err(PasswordError::Line { line: 1, .. })
        ));
        assert!(held_by_broker.verify("dave", b"hunter2"));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(f.reload(), Err(PasswordError::Io(_))));
        assert!(held_by_broker.verify("dave", b"hunter2"));
    }

    #[test]
    fn reload_from_str_and_parsed_files() {
        let f: PasswordFile = ALICE.parse().unwrap();
        assert_eq!(f.path(), None);
        f.reload().unwrap();
        assert!(f.verify("alice", b"secret"));
        f.reload_from_str(DAVE).unwrap();
        assert!(f.contains_user("dave") && !f.contains_user("alice"));
        assert!(f.reload_from_str("x").is_err());
        assert!(f.contains_user("dave"));
        assert!(PasswordFile::default().is_empty());
    }

    #[tokio::test]
    async fn authenticator_reason_codes() {
        let f = PasswordFile::parse(&fixture()).unwrap();
        let deny = |rc| AuthDecision::Deny(rc);
        for (user, password, expected) in [
            (Some("alice"), Some(&b"secret"[..]), AuthDecision::Allow),
            (Some("dave"), Some(b"hunter2"), AuthDecision::Allow),
            (
                Some("alice"),
                Some(b"nope"),
                deny(ReasonCode::BadUserNameOrPassword),
            ),
            (
                Some("mallory"),
                Some(b"secret"),
                deny(ReasonCode::BadUserNameOrPassword),
            ),
            (Some("alice"), None, deny(ReasonCode::BadUserNameOrPassword)),
            (None, None, deny(ReasonCode::NotAuthorized)),
            (None, Some(b"secret"), deny(ReasonCode::NotAuthorized)),
        ] {
            let c = credentials(user, password);
            assert_eq!(f.authenticate(&c).await, expected, "{user:?} {password:?}");
        }
    }

    #[test]
    fn authenticator_works_outside_a_tokio_runtime() {
        let f = PasswordFile::parse(ALICE).unwrap();
        let c = credentials(Some("alice"), Some(b"secret"));
        assert_eq!(
            futures::executor::block_on(f.authenticate(&c)),
            AuthDecision::Allow
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(text in "(\\PC{0,40}(:|\\$7\\$|\\$6\\$|\\$argon2id\\$|\\$|\n)){0,8}") {
            let _ = PasswordFile::parse(&text);
            let _ = remove_user(&text, "a");
            let _ = set_user(&text, "a", &DAVE["dave:".len()..]);
        }
    }
}
