//! The core's operations: connect and takeover, routing, subscriptions, close, wills, expiry.

use super::*;
use crate::store::StoreOp;
use starling_codec::SubscriptionOptions;
use starling_session::QueuedMessage;

impl Core {
    pub(super) fn connect(&mut self, now: Instant, conn: ConnId, mut request: ConnectRequest) {
        let assigned = request.client_id.is_empty();
        if assigned {
            request.client_id = self.assign_client_id();
        }
        let client: ClientId = Arc::from(request.client_id.as_str());
        let online = self.sessions.get(&client).and_then(|s| s.conn);
        if let Some(old) = online.filter(|old| *old != conn) {
            // v5 [MQTT-3.1.4-3]: the existing connection is closed with 0x8E; the new one is
            // accepted once the old one has handed its session back.
            self.outputs.push_back(Output::Disconnect {
                conn: old,
                reason: ReasonCode::SessionTakenOver,
            });
            if let Some((waiting, _)) = self.takeovers.insert(client, (conn, request)) {
                self.outputs.push_back(Output::Disconnect {
                    conn: waiting,
                    reason: ReasonCode::SessionTakenOver,
                });
            }
            return;
        }
        self.accept(now, conn, client, request, assigned);
    }

    fn accept(
        &mut self,
        now: Instant,
        conn: ConnId,
        client: ClientId,
        request: ConnectRequest,
        assigned: bool,
    ) {
        if request.clean_start {
            // v5 [MQTT-3.1.2-4], v3.1.1 [MQTT-3.1.2-6]: Clean Start discards the old session
            // (which ends it: a pending will is published now).
            self.end_session(now, &client);
        } else {
            // v5 [MQTT-3.1.3-9]: a reconnection before the will delay cancels the will.
            self.wills.remove(&client);
        }
        let record = self
            .sessions
            .entry(client.clone())
            .or_insert_with(|| SessionRecord {
                conn: None,
                offline: None,
                expires_at: None,
                filters: Vec::new(),
                persistent: false,
            });
        record.conn = Some(conn);
        record.expires_at = None;
        record.persistent = request.session_expiry_interval != 0;
        // v5 [MQTT-3.1.2-5]: resume the existing session; [MQTT-3.1.2-6]: or start a new one.
        let resume = record.offline.take().filter(|_| !request.clean_start);
        self.conns.insert(conn, client.clone());
        self.outputs.push_back(Output::Accept {
            conn,
            client_id: client,
            assigned,
            resume,
        });
    }

    fn assign_client_id(&mut self) -> String {
        loop {
            self.assigned += 1;
            let id = format!("{}{:08x}", self.config.assigned_id_prefix, self.assigned);
            if !self.sessions.contains_key(id.as_str()) {
                return id;
            }
        }
    }

    pub(super) fn closed(
        &mut self,
        now: Instant,
        conn: ConnId,
        state: SessionState,
        will: Option<Will>,
        sei: u32,
    ) {
        let Some(client) = self.conns.remove(&conn) else {
            // Never accepted: drop it from the takeover queue if it was waiting there.
            self.takeovers.retain(|_, (waiting, _)| *waiting != conn);
            return;
        };
        let mut state = state;
        self.redeliver_shared(now, &client, &mut state);
        let persist = sei != 0 && !self.takeovers.contains_key(&client);
        if let Some(record) = self.sessions.get_mut(&client) {
            record.conn = None;
            record.persistent = persist;
            if persist {
                let expires_at =
                    (sei != u32::MAX).then(|| now + Duration::from_secs(u64::from(sei)));
                self.outputs.push_back(Output::store(StoreOp::SaveSession {
                    client_id: client.clone(),
                    state: state.clone(),
                    expires_at,
                }));
            }
            record.offline = Some(Box::new(state));
        }
        if let Some(will) = will {
            let delay = will.properties.will_delay_interval.unwrap_or(0).min(sei);
            if delay == 0 {
                self.wills
                    .insert(client.clone(), PendingWill { will, due: now });
                self.publish_will(now, &client);
            } else {
                let due = now + Duration::from_secs(u64::from(delay));
                self.wills.insert(client.clone(), PendingWill { will, due });
                self.timers
                    .push(Reverse((due, TimerKind::Will, client.clone())));
            }
        }
        if let Some((new_conn, request)) = self.takeovers.remove(&client) {
            self.accept(now, new_conn, client, request, false);
            return;
        }
        match sei {
            // v5 [MQTT-3.1.2-23]: state is kept only with an interval above 0.
            0 => self.end_session(now, &client),
            u32::MAX => {}
            secs => {
                let at = now + Duration::from_secs(u64::from(secs));
                if let Some(record) = self.sessions.get_mut(&client) {
                    record.expires_at = Some(at);
                }
                self.timers.push(Reverse((at, TimerKind::Expiry, client)));
            }
        }
    }

    /// Hands the unacknowledged QoS 1 and the queued messages of shared subscriptions to
    /// another member of their group (v5 §4.8.2 allows it as soon as the connection is lost).
    fn redeliver_shared(&mut self, now: Instant, client: &ClientId, state: &mut SessionState) {
        use starling_session::OutboundStage;
        let mut moved = Vec::new();
        // Only QoS 1 flows move: a QoS 2 delivery in progress must be completed with this
        // member when it returns (v5 [MQTT-4.8.2-4]) and never go to another one (v5
        // [MQTT-4.8.2-5]). Queued messages were never sent to this member and may move.
        state.inflight.retain(|f| match &f.shared_group {
            Some(g) if f.stage == OutboundStage::AwaitingPubAck => {
                moved.push((g.clone(), Message::from_publish(now, f.publish.clone())));
                false
            }
            _ => true,
        });
        state.queued.retain(|q| match &q.options.shared_group {
            Some(g) => {
                moved.push((g.clone(), q.message.clone()));
                false
            }
            None => true,
        });
        for (group, mut message) in moved {
            // The message keeps the expiry it had; its DUP/retain state is per delivery.
            message.retain = false;
            match self.pick_shared_member(&group, Some(client)) {
                Some((other, options)) => self.deliver_to(&other, &Arc::new(message), options),
                // No other member: keep it for this one.
                None => {
                    let options = DeliveryOptions {
                        qos: message.qos,
                        shared_group: Some(group),
                        ..Default::default()
                    };
                    state.queued.push_back(QueuedMessage { message, options });
                }
            }
        }
    }

    /// Ends a session: subscriptions and state are discarded and a pending will is published.
    pub(super) fn end_session(&mut self, now: Instant, client: &ClientId) {
        if let Some(record) = self.sessions.remove(client) {
            self.subscription_total = self.subscription_total.saturating_sub(record.filters.len());
            if record.persistent {
                self.outputs
                    .push_back(Output::store(StoreOp::RemoveSession(client.clone())));
            }
            for filter in &record.filters {
                self.remove_subscription(client, filter);
            }
        }
        if self.wills.contains_key(client) {
            self.publish_will(now, client);
        }
    }

    pub(super) fn publish_will(&mut self, now: Instant, client: &ClientId) {
        let Some(PendingWill { will, .. }) = self.wills.remove(client) else {
            return;
        };
        self.stats.wills_published += 1;
        let mut properties = starling_codec::PublishProperties::default();
        let wp = will.properties;
        properties.payload_format_indicator = wp.payload_format_indicator;
        properties.content_type = wp.content_type;
        properties.response_topic = wp.response_topic;
        properties.correlation_data = wp.correlation_data;
        properties.user_properties = wp.user_properties;
        let expires_at = wp
            .message_expiry_interval
            .map(|s| now + Duration::from_secs(u64::from(s)));
        // v5 [MQTT-3.1.2-14], v5 [MQTT-3.1.2-15]: retained or not as the will says.
        let message = Message {
            topic: will.topic,
            payload: will.payload,
            qos: will.qos,
            retain: will.retain,
            properties: properties.into(),
            expires_at,
        };
        self.publish(now, None, message);
    }

    pub(super) fn publish(&mut self, now: Instant, from: Option<ConnId>, message: Message) {
        if message.is_expired(now) {
            return;
        }
        self.stats.messages_routed += 1;
        if message.retain {
            // v5 [MQTT-3.3.1-5]: store (or clear, for an empty payload) the retained message.
            self.retained.set(message.clone());
            let op = if message.payload.is_empty() {
                StoreOp::RemoveRetained(message.topic.clone())
            } else {
                StoreOp::SetRetained(message.clone())
            };
            self.outputs.push_back(Output::store(op));
        }
        let publisher = from.and_then(|c| self.conns.get(&c)).cloned();
        let Core {
            subs,
            scratch,
            shared_scratch,
            ..
        } = self;
        scratch.clear();
        shared_scratch.clear();
        subs.for_each_match(message.topic.as_str(), |key, entry| match key {
            SubKey::Client(client) => {
                // v5 [MQTT-3.8.3-3]: No Local: not back to the publisher.
                if entry.options.no_local && publisher.as_ref() == Some(client) {
                    return;
                }
                let opts = scratch.entry(client.clone()).or_default();
                // v5 [MQTT-3.3.4-2]: one copy at the highest QoS of the matching subscriptions,
                // v5 [MQTT-3.3.4-3]: with all their identifiers.
                opts.qos = opts.qos.max(entry.options.qos);
                opts.retain_as_published |= entry.options.retain_as_published;
                if let Some(id) = entry.identifier {
                    opts.subscription_identifiers.push(id);
                }
            }
            SubKey::Shared(group) => shared_scratch.push(group.clone()),
        });
        // One shared copy for every subscriber.
        let message = Arc::new(message);
        // The scratch map is taken out and put back so its capacity is reused: no allocation
        // per routed message for the list of targets.
        let mut targets = std::mem::take(&mut self.scratch);
        for (client, options) in targets.drain() {
            self.deliver_to(&client, &message, options);
        }
        self.scratch = targets;
        let groups = std::mem::take(&mut self.shared_scratch);
        for group in &groups {
            if let Some((client, options)) = self.pick_shared_member(group, None) {
                self.deliver_to(&client, &message, options);
            }
        }
        self.shared_scratch = groups;
    }

    /// Round robin over the group, preferring members that are online (v5 §4.8.2: each message
    /// goes to one member).
    fn pick_shared_member(
        &mut self,
        group: &Arc<str>,
        exclude: Option<&ClientId>,
    ) -> Option<(ClientId, DeliveryOptions)> {
        let sessions = &self.sessions;
        let g = self.shared.get_mut(group)?;
        let n = g.members.len();
        let eligible = |i: usize| exclude != Some(&g.members[i].0);
        let online = |i: usize| {
            eligible(i)
                && sessions
                    .get(&g.members[i].0)
                    .is_some_and(|s| s.conn.is_some())
        };
        let start = g.next % n.max(1);
        let pick = (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| online(i))
            .or_else(|| (0..n).map(|i| (start + i) % n).find(|&i| eligible(i)))?;
        g.next = pick + 1;
        let (client, entry) = &g.members[pick];
        let options = DeliveryOptions {
            qos: entry.options.qos,
            retain_as_published: entry.options.retain_as_published,
            from_retained: false,
            subscription_identifiers: entry.identifier.into_iter().collect(),
            shared_group: Some(group.clone()),
        };
        Some((client.clone(), options))
    }

    fn deliver_to(&mut self, client: &ClientId, message: &Arc<Message>, options: DeliveryOptions) {
        let Some(record) = self.sessions.get_mut(client) else {
            return;
        };
        self.stats.deliveries += 1;
        if let Some(conn) = record.conn {
            self.outputs.push_back(Output::Deliver {
                conn,
                message: message.clone(),
                options,
            });
            return;
        }
        let state = record.offline.get_or_insert_with(Box::default);
        if message.qos.min(options.qos) == QoS::AtMostOnce && !self.config.queue_qos0_offline {
            self.stats.dropped_offline_qos0 += 1;
            return;
        }
        if state.queued.len() >= self.config.max_offline_queue {
            self.stats.dropped_queue_full += 1;
            return;
        }
        let queued = QueuedMessage {
            message: Message::clone(message),
            options,
        };
        if record.persistent {
            self.outputs.push_back(Output::store(StoreOp::Enqueue {
                client_id: client.clone(),
                message: queued.clone(),
            }));
        }
        state.queued.push_back(queued);
    }

    pub(super) fn subscribe(
        &mut self,
        now: Instant,
        conn: ConnId,
        packet_id: PacketId,
        subscriptions: Vec<Subscription>,
        denied: Vec<Option<ReasonCode>>,
    ) {
        let Some(client) = self.conns.get(&conn).cloned() else {
            return;
        };
        let mut codes = Vec::with_capacity(subscriptions.len());
        let mut retained = Vec::new();
        for (i, mut sub) in subscriptions.into_iter().enumerate() {
            if let Some(Some(rc)) = denied.get(i) {
                codes.push(*rc);
                continue;
            }
            sub.options.qos = sub.options.qos.min(self.config.maximum_qos);
            let count = self.sessions.get(&client).map_or(0, |r| r.filters.len());
            let known = self
                .sessions
                .get(&client)
                .is_some_and(|r| r.filters.iter().any(|f| f == sub.filter.as_str()));
            if !known && count >= self.config.max_subscriptions_per_client {
                codes.push(ReasonCode::QuotaExceeded);
                continue;
            }
            let existed = self.add_subscription(&client, &sub);
            if self.sessions.get(&client).is_some_and(|r| r.persistent) {
                self.outputs.push_back(Output::store(StoreOp::Subscribe {
                    client_id: client.clone(),
                    subscription: sub.clone(),
                }));
            }
            codes.push(match sub.options.qos {
                QoS::AtMostOnce => ReasonCode::Success,
                QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
            });
            // v5 [MQTT-3.3.1-9] to v5 [MQTT-3.3.1-11]: retain handling decides whether retained
            // messages are sent; shared subscriptions get none.
            let send = match sub.options.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendAtSubscribeIfNew => !existed,
                RetainHandling::DoNotSend => false,
            };
            if send && !sub.filter.is_shared() {
                let options = DeliveryOptions {
                    qos: sub.options.qos,
                    retain_as_published: true,
                    from_retained: true,
                    subscription_identifiers: sub.identifier.into_iter().collect(),
                    shared_group: None,
                };
                self.retained.for_each_match(&sub.filter, now, |m| {
                    retained.push((m.clone(), options.clone()))
                });
            }
        }
        self.outputs.push_back(Output::SubAck {
            conn,
            packet_id,
            reason_codes: codes,
        });
        for (message, options) in retained {
            self.outputs.push_back(Output::Deliver {
                conn,
                message: Arc::new(message),
                options,
            });
        }
    }

    /// Adds or replaces a subscription; returns whether it already existed.
    pub(super) fn add_subscription(&mut self, client: &ClientId, sub: &Subscription) -> bool {
        let entry = SubEntry {
            options: sub.options,
            identifier: sub.identifier,
        };
        let full = sub.filter.as_str();
        let existed = if sub.filter.is_shared() {
            let key: Arc<str> = Arc::from(full);
            let group = self.shared.entry(key.clone()).or_default();
            let existed = if let Some(m) = group.members.iter_mut().find(|(c, _)| c == client) {
                m.1 = entry.clone();
                true
            } else {
                group.members.push((client.clone(), entry.clone()));
                false
            };
            let group_entry = SubEntry {
                options: SubscriptionOptions::default(),
                identifier: None,
            };
            self.subs
                .insert(sub.filter.filter(), SubKey::Shared(key), group_entry);
            existed
        } else {
            self.subs
                .insert(full, SubKey::Client(client.clone()), entry)
                .is_some()
        };
        if !existed {
            if let Some(record) = self.sessions.get_mut(client) {
                record.filters.push(full.to_owned());
                self.subscription_total += 1;
            }
        }
        existed
    }

    /// Removes one subscription; returns whether it existed.
    fn remove_subscription(&mut self, client: &ClientId, full: &str) -> bool {
        let Ok(filter) = TopicFilter::try_from(full) else {
            return false;
        };
        if filter.is_shared() {
            let Some(group) = self.shared.get_mut(full) else {
                return false;
            };
            let before = group.members.len();
            group.members.retain(|(c, _)| c != client);
            let removed = group.members.len() != before;
            if group.members.is_empty() {
                self.shared.remove(full);
                self.subs
                    .remove(filter.filter(), &SubKey::Shared(Arc::from(full)));
            }
            removed
        } else {
            self.subs
                .remove(full, &SubKey::Client(client.clone()))
                .is_some()
        }
    }

    pub(super) fn unsubscribe(
        &mut self,
        conn: ConnId,
        packet_id: PacketId,
        filters: Vec<TopicFilter>,
    ) {
        let Some(client) = self.conns.get(&conn).cloned() else {
            return;
        };
        let mut codes = Vec::with_capacity(filters.len());
        for filter in &filters {
            let removed = self.remove_subscription(&client, filter.as_str());
            if removed {
                if let Some(record) = self.sessions.get_mut(&client) {
                    let before = record.filters.len();
                    record.filters.retain(|f| f != filter.as_str());
                    self.subscription_total = self
                        .subscription_total
                        .saturating_sub(before - record.filters.len());
                    if record.persistent {
                        self.outputs.push_back(Output::store(StoreOp::Unsubscribe {
                            client_id: client.clone(),
                            filter: filter.as_str().to_owned(),
                        }));
                    }
                }
            }
            codes.push(if removed {
                ReasonCode::Success
            } else {
                ReasonCode::NoSubscriptionExisted
            });
        }
        self.outputs.push_back(Output::UnsubAck {
            conn,
            packet_id,
            reason_codes: codes,
        });
    }
}
