"""paho-mqtt 2.x peer for mqtt-broker/tests/paho_interop.rs.

Modes:
  sub   subscribe, print READY after the SUBACK, then one JSON line per message; exit after
        --count messages or on a message to --exit-topic, with a normal DISCONNECT.
  pub   publish each --message (QoS, retain, MQTT 5 properties), wait until each is complete
        (PUBACK / PUBCOMP), DISCONNECT.
  die   connect with a will, print CONNECTED, then end the process without DISCONNECT.

Every line printed is flushed at once so the Rust test can react to it.
"""

import argparse
import json
import os
import sys

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def out(obj):
    print(json.dumps(obj, sort_keys=True) if not isinstance(obj, str) else obj, flush=True)


def make_client(args):
    protocol = mqtt.MQTTv5 if args.version == "5" else mqtt.MQTTv311
    kwargs = {"client_id": args.id, "protocol": protocol}
    if protocol == mqtt.MQTTv311:
        kwargs["clean_session"] = not args.persistent
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    return client, protocol


def connect(client, protocol, args):
    props = None
    clean_start = mqtt.MQTT_CLEAN_START_FIRST_ONLY
    if protocol == mqtt.MQTTv5:
        clean_start = not args.persistent
        if args.persistent:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 300
    if protocol == mqtt.MQTTv5:
        client.connect(args.host, args.port, keepalive=30, clean_start=clean_start, properties=props)
    else:
        client.connect(args.host, args.port, keepalive=30)


def message_json(msg):
    d = {
        "topic": msg.topic,
        "payload": msg.payload.decode("utf-8", "replace"),
        "qos": msg.qos,
        "retain": bool(msg.retain),
    }
    p = getattr(msg, "properties", None)
    if p is not None:
        for name in ("ResponseTopic", "ContentType", "PayloadFormatIndicator", "MessageExpiryInterval"):
            if hasattr(p, name):
                d[name] = getattr(p, name)
        if hasattr(p, "CorrelationData"):
            d["CorrelationData"] = p.CorrelationData.hex()
        if hasattr(p, "UserProperty"):
            d["UserProperty"] = [list(kv) for kv in p.UserProperty]
        if hasattr(p, "SubscriptionIdentifier"):
            d["SubscriptionIdentifier"] = p.SubscriptionIdentifier
    return d


def run_sub(args):
    client, protocol = make_client(args)
    # Acknowledge by hand, before a DISCONNECT: paho would otherwise queue the PUBACK after a
    # DISCONNECT sent from on_message, and the broker would rightly resend the message later.
    client.manual_ack_set(True)
    state = {"n": 0}

    def on_connect(c, userdata, flags, reason_code, properties):
        out({"connected": str(reason_code), "session_present": bool(flags.session_present)})
        if args.topic:
            c.subscribe([(t, args.qos) for t in args.topic])
        else:
            out("READY")

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        out("READY")

    def on_message(c, userdata, msg):
        if msg.qos > 0:
            c.ack(msg.mid, msg.qos)
        if args.exit_topic and msg.topic == args.exit_topic:
            c.disconnect()
            return
        out(message_json(msg))
        state["n"] += 1
        if args.count and state["n"] >= args.count:
            c.disconnect()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    connect(client, protocol, args)
    client.loop_forever()
    out("DONE")


def run_pub(args):
    client, protocol = make_client(args)
    connect(client, protocol, args)
    client.loop_start()
    for spec in args.message:
        m = json.loads(spec)
        props = None
        if protocol == mqtt.MQTTv5 and m.get("props"):
            props = Properties(PacketTypes.PUBLISH)
            for k, v in m["props"].items():
                if k == "CorrelationData":
                    v = bytes.fromhex(v)
                elif k == "UserProperty":
                    v = [tuple(kv) for kv in v]
                setattr(props, k, v)
        info = client.publish(m["topic"], m.get("payload", ""), qos=m.get("qos", 0),
                              retain=m.get("retain", False), properties=props)
        info.wait_for_publish(timeout=10)
        if not info.is_published():
            out("PUBLISH NOT COMPLETE")
            sys.exit(2)
    client.disconnect()
    client.loop_stop()
    out("DONE")


def run_die(args):
    client, protocol = make_client(args)
    client.will_set(args.will_topic, args.will_payload, qos=1)
    connected = []
    client.on_connect = lambda c, u, f, rc, p: connected.append(rc)
    connect(client, protocol, args)
    while not connected:
        client.loop(timeout=1.0)
    out("CONNECTED")
    # No DISCONNECT: the process ends and the OS closes the socket.
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["sub", "pub", "die"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--version", choices=["311", "5"], required=True)
    ap.add_argument("--id", default="")
    ap.add_argument("--persistent", action="store_true")
    ap.add_argument("--topic", action="append", default=[])
    ap.add_argument("--qos", type=int, default=0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--exit-topic", default="")
    ap.add_argument("--message", action="append", default=[])
    ap.add_argument("--will-topic", default="")
    ap.add_argument("--will-payload", default="")
    args = ap.parse_args()
    {"sub": run_sub, "pub": run_pub, "die": run_die}[args.mode](args)


if __name__ == "__main__":
    main()
