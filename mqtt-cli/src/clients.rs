//! `starling pub`, `sub` and `rr`: Mosquitto-compatible flags over `starling-client`.

use bytes::Bytes;
use clap::Args;
use starling_client::{
    codec::{
        ConnectProperties, DisconnectProperties, MqttStr, PayloadFormat, ProtocolVersion,
        PublishProperties, QoS, ReasonCode, RetainHandling, SubscribeProperties,
        SubscriptionOptions, TopicName, Will, WillProperties,
    },
    format, Client, ConnectOptions, Error, Event, Message, ParsedUrl, Reconnect,
};
use std::{
    io::{BufRead, Read, Write},
    num::{NonZeroU16, NonZeroU32},
    process::ExitCode,
    time::{Duration, SystemTime},
};

/// Exit code of `sub -W` / `rr -W` when the time runs out (as Mosquitto's clients).
const EXIT_TIMEOUT: u8 = 27;

/// A failure with the exit code a script can rely on.
struct Failure(u8, String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(1, e.to_string())
    }
}

type Outcome = Result<(), Failure>;

/// Connection flags shared by `pub`, `sub` and `rr` (the `mosquitto_pub` names).
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnArgs {
    /// Broker host.
    #[arg(short = 'h', long, default_value = "localhost")]
    host: String,
    /// Broker port.
    #[arg(short = 'p', long, default_value_t = 1883)]
    port: u16,
    /// URL instead of host/port: mqtt://[user[:password]@]host[:port]/topic or ws://…/path.
    #[arg(short = 'L', long)]
    url: Option<String>,
    /// Client id (default: a random one).
    #[arg(short = 'i', long = "id")]
    id: Option<String>,
    /// Client id prefix; the process id is appended.
    #[arg(short = 'I', long = "id-prefix")]
    id_prefix: Option<String>,
    /// User name.
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Password.
    #[arg(short = 'P', long = "pw")]
    password: Option<String>,
    /// Keep alive in seconds.
    #[arg(short = 'k', long, default_value_t = 60)]
    keepalive: u16,
    /// MQTT version: 31, 311 or 5 (also mqttv31, mqttv311, mqttv5).
    #[arg(short = 'V', long = "protocol-version", default_value = "311")]
    version: String,
    /// Persistent session: clean session off (3.x) / clean start off (v5).
    #[arg(short = 'c', long = "disable-clean-session")]
    persistent: bool,
    /// Session expiry interval in seconds (v5; `-c` defaults it to "never").
    #[arg(short = 'x', long = "session-expiry-interval")]
    session_expiry: Option<u32>,
    /// Print debug messages (connection events) to stderr.
    #[arg(short = 'd', long)]
    debug: bool,
    /// Do not print error messages.
    #[arg(long)]
    quiet: bool,
    /// Will topic.
    #[arg(long = "will-topic")]
    will_topic: Option<String>,
    /// Will payload.
    #[arg(long = "will-payload", default_value = "")]
    will_payload: String,
    /// Will QoS.
    #[arg(long = "will-qos", default_value_t = 0)]
    will_qos: u8,
    /// Will retain.
    #[arg(long = "will-retain")]
    will_retain: bool,
    /// MQTT 5 property: -D <connect|publish|subscribe|unsubscribe|disconnect|will>
    /// <property> <value> (user-property takes a name and a value).
    #[arg(short = 'D', long = "property", num_args = 3..=4, action = clap::ArgAction::Append,
          value_names = ["COMMAND", "PROPERTY", "VALUE"])]
    property: Vec<String>,
}

/// MQTT 5 properties per packet, from `-D`.
#[derive(Default)]
struct Props {
    connect: ConnectProperties,
    publish: PublishProperties,
    subscribe: SubscribeProperties,
    unsubscribe: starling_client::codec::UnsubscribeProperties,
    disconnect: DisconnectProperties,
    will: WillProperties,
}

fn parse_num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, Failure> {
    v.parse()
        .map_err(|_| Failure(1, format!("invalid value {v:?} for property {name}")))
}

fn mqtt_str(v: &str) -> Result<MqttStr, Failure> {
    MqttStr::try_from(v).map_err(|e| Failure(1, format!("invalid string {v:?}: {e}")))
}

impl Props {
    fn parse(tokens: &[String]) -> Result<Props, Failure> {
        // The -D values arrive flattened: <command> <property> <value>, with a second value
        // for user-property.
        let mut specs = Vec::new();
        let mut rest = tokens;
        while rest.len() >= 3 {
            let n = if rest[1] == "user-property" { 4 } else { 3 };
            let n = n.min(rest.len());
            specs.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        if !rest.is_empty() {
            return Err(Failure(1, "-D takes <command> <property> <value>".into()));
        }
        let mut p = Props::default();
        for spec in &specs {
            let (cmd, name) = (spec[0].as_str(), spec[1].as_str());
            let value = spec[2].as_str();
            let bad = || Failure(1, format!("property {name} is not valid for {cmd}"));
            if name == "user-property" {
                let v = spec
                    .get(3)
                    .ok_or_else(|| Failure(1, "user-property needs a name and a value".into()))?;
                let pair = (mqtt_str(value)?, mqtt_str(v)?);
                match cmd {
                    "connect" => p.connect.user_properties.push(pair),
                    "publish" => p.publish.user_properties.push(pair),
                    "subscribe" => p.subscribe.user_properties.push(pair),
                    "unsubscribe" => p.unsubscribe.user_properties.push(pair),
                    "disconnect" => p.disconnect.user_properties.push(pair),
                    "will" => p.will.user_properties.push(pair),
                    _ => return Err(bad()),
                }
                continue;
            }
            if spec.len() != 3 {
                return Err(Failure(1, format!("property {name} takes one value")));
            }
            match (cmd, name) {
                ("connect", "session-expiry-interval") => {
                    p.connect.session_expiry_interval = Some(parse_num(name, value)?)
                }
                ("connect", "receive-maximum") => {
                    p.connect.receive_maximum = NonZeroU16::new(parse_num(name, value)?)
                }
                ("connect", "maximum-packet-size") => {
                    p.connect.maximum_packet_size = NonZeroU32::new(parse_num(name, value)?)
                }
                ("connect", "topic-alias-maximum") => {
                    p.connect.topic_alias_maximum = Some(parse_num(name, value)?)
                }
                ("connect", "request-response-information") => {
                    p.connect.request_response_information =
                        Some(parse_num::<u8>(name, value)? != 0)
                }
                ("connect", "request-problem-information") => {
                    p.connect.request_problem_information = Some(parse_num::<u8>(name, value)? != 0)
                }
                ("connect", "authentication-method") => {
                    p.connect.authentication_method = Some(mqtt_str(value)?)
                }
                ("connect", "authentication-data") => {
                    p.connect.authentication_data = Some(Bytes::from(value.to_owned()))
                }
                ("publish" | "will", "payload-format-indicator") => {
                    let f = match parse_num::<u8>(name, value)? {
                        0 => PayloadFormat::Unspecified,
                        _ => PayloadFormat::Utf8,
                    };
                    if cmd == "will" {
                        p.will.payload_format_indicator = Some(f)
                    } else {
                        p.publish.payload_format_indicator = Some(f)
                    }
                }
                ("publish" | "will", "message-expiry-interval") => {
                    let e = Some(parse_num(name, value)?);
                    if cmd == "will" {
                        p.will.message_expiry_interval = e
                    } else {
                        p.publish.message_expiry_interval = e
                    }
                }
                ("publish" | "will", "content-type") => {
                    let c = Some(mqtt_str(value)?);
                    if cmd == "will" {
                        p.will.content_type = c
                    } else {
                        p.publish.content_type = c
                    }
                }
                ("publish" | "will", "response-topic") => {
                    let t = Some(
                        TopicName::try_from(value)
                            .map_err(|e| Failure(1, format!("response topic: {e}")))?,
                    );
                    if cmd == "will" {
                        p.will.response_topic = t
                    } else {
                        p.publish.response_topic = t
                    }
                }
                ("publish" | "will", "correlation-data") => {
                    let d = Some(Bytes::from(value.to_owned()));
                    if cmd == "will" {
                        p.will.correlation_data = d
                    } else {
                        p.publish.correlation_data = d
                    }
                }
                // The client assigns topic aliases itself (when the server allows them).
                ("publish", "topic-alias") => {}
                ("will", "will-delay-interval") => {
                    p.will.will_delay_interval = Some(parse_num(name, value)?)
                }
                ("subscribe", "subscription-identifier") => {
                    p.subscribe.subscription_identifier = NonZeroU32::new(parse_num(name, value)?)
                }
                ("disconnect", "session-expiry-interval") => {
                    p.disconnect.session_expiry_interval = Some(parse_num(name, value)?)
                }
                ("disconnect", "reason-string") => {
                    p.disconnect.reason_string = Some(mqtt_str(value)?)
                }
                _ => return Err(bad()),
            }
        }
        Ok(p)
    }
}

fn qos(q: u8) -> Result<QoS, Failure> {
    QoS::from_u8(q).ok_or_else(|| Failure(1, format!("invalid QoS {q} (0, 1 or 2)")))
}

impl ConnArgs {
    fn version(&self) -> Result<ProtocolVersion, Failure> {
        match self.version.as_str() {
            "31" | "mqttv31" => Ok(ProtocolVersion::V3_1),
            "311" | "mqttv311" => Ok(ProtocolVersion::V3_1_1),
            "5" | "mqttv5" => Ok(ProtocolVersion::V5),
            v => Err(Failure(
                1,
                format!("unknown protocol version {v:?} (31, 311 or 5)"),
            )),
        }
    }

    /// The options and, from `-L`, the URL's topic.
    fn options(&self, props: &Props) -> Result<(ConnectOptions, Option<String>), Failure> {
        let version = self.version()?;
        let (mut options, topic) = match &self.url {
            Some(url) => {
                let parsed = ParsedUrl::parse(url)?;
                let topic = (!parsed.path.is_empty()).then(|| parsed.path.clone());
                (ConnectOptions::new(url)?, topic)
            }
            None => {
                let host = if self.host.contains(':') {
                    format!("[{}]", self.host)
                } else {
                    self.host.clone()
                };
                (
                    ConnectOptions::new(&format!("mqtt://{host}:{}", self.port))?,
                    None,
                )
            }
        };
        options = options
            .version(version)
            .keep_alive(self.keepalive)
            .clean_start(!self.persistent)
            // One-shot tools report a lost connection; `sub` overrides this and reconnects.
            .reconnect(Reconnect::disabled())
            .properties(props.connect.clone());
        if let Some(id) = &self.id {
            options = options.client_id(id);
        } else if let Some(prefix) = &self.id_prefix {
            options = options.client_id(format!("{prefix}{}", std::process::id()));
        } else if self.persistent {
            return Err(Failure(
                1,
                "a persistent session (-c) needs a client id (-i or -I)".into(),
            ));
        }
        if let Some(user) = &self.username {
            options = match &self.password {
                Some(pw) => options.credentials(user, pw.clone()),
                None => options.username(user),
            };
        }
        let expiry = self
            .session_expiry
            .or(props.connect.session_expiry_interval)
            .or((self.persistent && version.is_v5()).then_some(u32::MAX));
        if let Some(e) = expiry {
            if version.is_v5() {
                options = options.session_expiry(e);
            }
        }
        if let Some(topic) = &self.will_topic {
            options = options.will(Will {
                topic: TopicName::try_from(topic.as_str())
                    .map_err(|e| Failure(1, format!("will topic {topic:?}: {e}")))?,
                payload: Bytes::from(self.will_payload.clone()),
                qos: qos(self.will_qos)?,
                retain: self.will_retain,
                properties: props.will.clone(),
            });
        }
        Ok((options, topic))
    }

    async fn connect(&self, options: ConnectOptions) -> Result<Client, Failure> {
        let version = options.get_version();
        let client = Client::connect(options).await.map_err(|e| match e {
            // Like Mosquitto's clients: exit with the CONNACK code (3.x return code).
            Error::Refused(code) => {
                let exit = if version.is_v5() {
                    code.as_u8()
                } else {
                    code.to_v3_connack_return_code().unwrap_or(5)
                };
                Failure(exit, format!("Connection error: {e}"))
            }
            e => Failure(1, format!("Error: {e}")),
        })?;
        if self.debug {
            eprintln!("Client connected ({version:?})");
            // Later connection events (lost, retrying, back) on stderr too.
            let mut events = client.events();
            tokio::spawn(async move {
                while let Ok(event) = events.recv().await {
                    match event {
                        Event::Connected { session_present } => {
                            eprintln!("Client connected (session present: {session_present})")
                        }
                        Event::Disconnected { reason } => {
                            eprintln!("Client disconnected: {reason:?}")
                        }
                        Event::Reconnecting { attempt, delay } => {
                            eprintln!("Client reconnecting in {delay:?} (attempt {attempt})")
                        }
                        other => eprintln!("Client event: {other:?}"),
                    }
                }
            });
        }
        Ok(client)
    }
}

fn finish(quiet: bool, r: Outcome) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            if !quiet {
                eprintln!("{msg}");
            }
            ExitCode::from(code.max(1))
        }
    }
}

/// Disconnects normally with the `-D disconnect …` properties, waiting up to `drain` for
/// in-flight work.
async fn goodbye(client: &Client, props: &Props, drain: Duration) {
    let _ = client
        .disconnect_with(
            drain,
            ReasonCode::NORMAL_DISCONNECTION,
            props.disconnect.clone(),
        )
        .await;
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

// ----- pub -----

/// `starling pub`: publish one message, a file, stdin, or stdin line by line.
#[derive(Debug, Args)]
#[command(
    disable_help_flag = true,
    after_help = "Examples:\n  starling pub -t sensors/1 -m 21.5 -q 1\n  starling pub -V 5 -t cmd -m on -D publish user-property source cli\n  tail -f log | starling pub -t logs -l\n  starling pub -L mqtt://user:pass@127.0.0.1:1883/a/topic -m hi"
)]
pub(crate) struct PubArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Topic to publish on.
    #[arg(short = 't', long)]
    topic: Option<String>,
    /// Message payload.
    #[arg(short = 'm', long, group = "source")]
    message: Option<String>,
    /// Send the contents of a file as the message.
    #[arg(short = 'f', long, group = "source")]
    file: Option<std::path::PathBuf>,
    /// Send each line of stdin as a message.
    #[arg(short = 'l', long = "stdin-line", group = "source")]
    stdin_line: bool,
    /// Send all of stdin as one message.
    #[arg(short = 's', long = "stdin-file", group = "source")]
    stdin_file: bool,
    /// Send an empty (null) message.
    #[arg(short = 'n', long = "null-message", group = "source")]
    null: bool,
    /// QoS.
    #[arg(short = 'q', long, default_value_t = 0)]
    qos: u8,
    /// Retain the message.
    #[arg(short = 'r', long)]
    retain: bool,
    /// Publish the message this many times.
    #[arg(long, default_value_t = 1)]
    repeat: u64,
    /// Seconds between repeats (fractions allowed).
    #[arg(long = "repeat-delay", default_value_t = 0.0)]
    repeat_delay: f64,
}

pub(crate) fn run_pub(args: PubArgs) -> ExitCode {
    let quiet = args.conn.quiet;
    finish(quiet, runtime().and_then(|rt| rt.block_on(publish(args))))
}

async fn publish(a: PubArgs) -> Outcome {
    let props = Props::parse(&a.conn.property)?;
    let (options, url_topic) = a.conn.options(&props)?;
    let topic = a
        .topic
        .clone()
        .or(url_topic)
        .ok_or_else(|| Failure(1, "Error: no topic given (-t or -L …/topic)".into()))?;
    let qos = qos(a.qos)?;
    let client = a.conn.connect(options).await?;
    let send = |payload: Bytes| {
        let client = &client;
        let props = props.publish.clone();
        let topic = topic.as_str();
        async move {
            let outcome = client
                .publish(topic, payload)
                .qos(qos)
                .retain(a.retain)
                .properties(props)
                .await
                .map_err(|e| Failure(1, format!("Error: publish failed: {e}")))?;
            if a.conn.debug {
                eprintln!("Client published ({:?})", outcome.reason);
            }
            Ok::<_, Failure>(())
        }
    };
    let result = async {
        if a.stdin_line {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                send(Bytes::from(line?)).await?;
            }
            return Ok(());
        }
        let payload = if let Some(m) = &a.message {
            Bytes::from(m.clone())
        } else if let Some(f) = &a.file {
            Bytes::from(
                std::fs::read(f).map_err(|e| Failure(1, format!("Error: {}: {e}", f.display())))?,
            )
        } else if a.stdin_file {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            Bytes::from(buf)
        } else if a.null {
            Bytes::new()
        } else {
            return Err(Failure(
                1,
                "Error: no message given (-m, -f, -l, -s or -n)".into(),
            ));
        };
        for i in 0..a.repeat.max(1) {
            if i > 0 && a.repeat_delay > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(a.repeat_delay)).await;
            }
            send(payload.clone()).await?;
        }
        Ok(())
    }
    .await;
    goodbye(&client, &props, Duration::from_secs(10)).await;
    result
}

// ----- sub -----

/// `starling sub`: subscribe and print messages.
#[derive(Debug, Args)]
#[command(
    disable_help_flag = true,
    after_help = "Examples:\n  starling sub -t 'sensors/#' -v\n  starling sub -t a -t b -C 10 -W 5 -F '%t %p'\n  starling sub -V 5 -t 'cmd/#' --json\n  starling sub -t '#' --retained-only --remove-retained -W 1\n\nExit codes: 0 success, 27 timeout (-W), the CONNACK code when refused, 1 other errors."
)]
pub(crate) struct SubArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Topic filter to subscribe to (repeatable).
    #[arg(short = 't', long)]
    topic: Vec<String>,
    /// Do not print messages on topics matching this filter (repeatable).
    #[arg(short = 'T', long = "filter-out")]
    filter_out: Vec<String>,
    /// Print the topic before the payload.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Exit after this many messages.
    #[arg(short = 'C', long)]
    count: Option<u64>,
    /// Stop after this many seconds from connecting; exit code 27 if it runs out.
    #[arg(short = 'W', long)]
    timeout: Option<u64>,
    /// Do not print stale retained messages.
    #[arg(short = 'R', long = "no-retained")]
    no_retained: bool,
    /// Print only retained messages; exit at the first non-retained one.
    #[arg(long = "retained-only")]
    retained_only: bool,
    /// Do not add a newline after each message.
    #[arg(short = 'N')]
    no_newline: bool,
    /// Subscription QoS.
    #[arg(short = 'q', long, default_value_t = 0)]
    qos: u8,
    /// Output format (see mosquitto_sub -F): %t %p %q %r %l %m %x %X %I %U %j %J %C %D %E %F %P %R %S.
    #[arg(short = 'F', long)]
    format: Option<String>,
    /// One JSON object per line, MQTT 5 properties included.
    #[arg(long)]
    json: bool,
    /// Exit once subscribed.
    #[arg(short = 'E')]
    exit_after_subscribe: bool,
    /// Clear each retained message received (publish an empty retained message).
    #[arg(long = "remove-retained")]
    remove_retained: bool,
    /// No local (v5): do not receive our own messages.
    #[arg(long = "nl", alias = "no-local")]
    no_local: bool,
    /// Retain as published (v5).
    #[arg(long = "rap", alias = "retain-as-published")]
    retain_as_published: bool,
    /// Retain handling (v5): 0 send, 1 send if new subscription, 2 do not send.
    #[arg(long = "rh", alias = "retain-handling", default_value_t = 0)]
    retain_handling: u8,
}

pub(crate) fn run_sub(args: SubArgs) -> ExitCode {
    let quiet = args.conn.quiet;
    finish(quiet, runtime().and_then(|rt| rt.block_on(subscribe(args))))
}

fn print(out: &mut impl Write, a: &SubArgs, m: &Message) -> std::io::Result<()> {
    let now = SystemTime::now();
    if a.json {
        writeln!(out, "{}", format::json_line(m, now))?;
    } else if let Some(f) = &a.format {
        out.write_all(&format::render(f, m, now))?;
        if !a.no_newline {
            out.write_all(b"\n")?;
        }
    } else {
        if a.verbose {
            write!(out, "{} ", m.topic())?;
        }
        out.write_all(&m.payload)?;
        if !a.no_newline {
            out.write_all(b"\n")?;
        }
    }
    out.flush()
}

async fn subscribe(a: SubArgs) -> Outcome {
    let props = Props::parse(&a.conn.property)?;
    let (options, url_topic) = a.conn.options(&props)?;
    // Like mosquitto_sub, a subscriber outlives broker restarts: it reconnects (every second
    // at first, backing off to 30 s) and subscribes again if the session was lost.
    let options = options.reconnect(Reconnect::backoff(
        Duration::from_secs(1),
        Duration::from_secs(30),
    ));
    let mut filters = a.topic.clone();
    filters.extend(url_topic);
    if filters.is_empty() {
        return Err(Failure(1, "Error: no topic filter given (-t)".into()));
    }
    let filter_out = a
        .filter_out
        .iter()
        .map(|f| {
            starling_client::codec::TopicFilter::try_from(f.as_str())
                .map_err(|e| Failure(1, format!("Error: filter {f:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut sub_options = SubscriptionOptions::new(qos(a.qos)?);
    sub_options.no_local = a.no_local;
    sub_options.retain_as_published = a.retain_as_published;
    sub_options.retain_handling = match a.retain_handling {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        n => return Err(Failure(1, format!("Error: invalid retain handling {n}"))),
    };
    let client = a.conn.connect(options).await?;
    let started = tokio::time::Instant::now();
    let mut messages = client.messages();
    let ack = client
        .subscribe_with(
            filters.iter().map(|f| (f.as_str(), sub_options)),
            props.subscribe.clone(),
        )
        .await?;
    if a.conn.debug {
        eprintln!("Subscribed: {:?}", ack.reason_codes);
    }
    if ack.reason_codes.iter().all(|r| r.is_error()) {
        return Err(Failure(
            1,
            format!("Error: all subscriptions refused: {:?}", ack.reason_codes),
        ));
    }
    if a.exit_after_subscribe {
        client.disconnect().await?;
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let mut printed = 0u64;
    // As mosquitto_sub: -W counts from the connection, not between messages.
    let deadline = a.timeout.map(|secs| started + Duration::from_secs(secs));
    let result = loop {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, messages.recv()).await {
                Ok(m) => m,
                Err(_) => break Err(Failure(EXIT_TIMEOUT, "Timed out".into())),
            },
            None => messages.recv().await,
        };
        let Some(m) = next else {
            break Err(Failure(1, "Error: connection lost".into()));
        };
        if a.retained_only && !m.retain {
            break Ok(());
        }
        if m.retain && a.remove_retained && !m.payload.is_empty() {
            client
                .publish(m.topic(), Bytes::new())
                .retain(true)
                .qos(QoS::AtLeastOnce)
                .await?;
        }
        if (a.no_retained && m.retain) || filter_out.iter().any(|f| f.matches(m.topic())) {
            continue;
        }
        print(&mut out, &a, &m)?;
        printed += 1;
        if a.count.is_some_and(|c| printed >= c) {
            break Ok(());
        }
    };
    goodbye(&client, &props, Duration::from_secs(5)).await;
    result
}

// ----- rr -----

/// `starling rr`: send a request and print its response (MQTT 5).
#[derive(Debug, Args)]
#[command(
    disable_help_flag = true,
    after_help = "Examples:\n  starling rr -t svc/time -e svc/time/reply -m now\n  starling rr -t svc/echo -m ping -W 2\n\nExit codes: 0 success, 27 timeout (-W), the CONNACK code when refused, 1 other errors."
)]
pub(crate) struct RrArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Request topic.
    #[arg(short = 't', long)]
    topic: String,
    /// Response topic (default: one private to this client).
    #[arg(short = 'e', long = "response-topic")]
    response_topic: Option<String>,
    /// Request payload.
    #[arg(short = 'm', long, default_value = "")]
    message: String,
    /// Correlation data (default: generated).
    #[arg(long = "correlation-data")]
    correlation_data: Option<String>,
    /// Request QoS.
    #[arg(short = 'q', long, default_value_t = 1)]
    qos: u8,
    /// Seconds to wait for the response (exit 27 when exceeded).
    #[arg(short = 'W', long, default_value_t = 30)]
    timeout: u64,
    /// Print the topic before the payload.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// One JSON object for the response.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_rr(args: RrArgs) -> ExitCode {
    let quiet = args.conn.quiet;
    finish(quiet, runtime().and_then(|rt| rt.block_on(request(args))))
}

async fn request(a: RrArgs) -> Outcome {
    let mut conn = a.conn.clone();
    if conn.version != "5" && conn.version != "mqttv5" {
        // Request/response rests on MQTT 5 properties.
        conn.version = "5".into();
    }
    let props = Props::parse(&conn.property)?;
    let (options, _) = conn.options(&props)?;
    let client = conn.connect(options).await?;
    let qos = qos(a.qos)?;
    let wait = Duration::from_secs(a.timeout);
    let response = match &a.response_topic {
        None if a.correlation_data.is_none() => {
            match client
                .request(&a.topic, a.message.clone())
                .qos(qos)
                .properties(props.publish.clone())
                .timeout(wait)
                .await
            {
                Ok(m) => Ok(m),
                Err(Error::Timeout) => Err(Failure(EXIT_TIMEOUT, "Timed out".into())),
                Err(e) => Err(Failure(1, format!("Error: {e}"))),
            }
        }
        _ => {
            // An explicit response topic or correlation data: subscribe and match by hand.
            let response_topic = a
                .response_topic
                .clone()
                .unwrap_or_else(|| format!("starling/rr/{}", std::process::id()));
            let correlation = a
                .correlation_data
                .clone()
                .unwrap_or_else(|| format!("{}", std::process::id()));
            let mut replies = client
                .subscribe_stream(&response_topic, QoS::AtLeastOnce)
                .await?;
            client
                .publish(&a.topic, a.message.clone())
                .qos(qos)
                .properties(props.publish.clone())
                .response_topic(&response_topic)
                .correlation_data(correlation.clone())
                .await?;
            let found = tokio::time::timeout(wait, async {
                while let Some(m) = replies.recv().await {
                    if m.properties.correlation_data.as_deref() == Some(correlation.as_bytes()) {
                        return Some(m);
                    }
                }
                None
            })
            .await;
            match found {
                Ok(Some(m)) => Ok(m),
                Ok(None) => Err(Failure(1, "Error: connection lost".into())),
                Err(_) => Err(Failure(EXIT_TIMEOUT, "Timed out".into())),
            }
        }
    };
    let result = response.and_then(|m| {
        let mut out = std::io::stdout().lock();
        if a.json {
            writeln!(out, "{}", format::json_line(&m, SystemTime::now()))?;
        } else {
            if a.verbose {
                write!(out, "{} ", m.topic())?;
            }
            out.write_all(&m.payload)?;
            writeln!(out)?;
        }
        Ok(())
    });
    let _ = client.disconnect().await;
    result
}
