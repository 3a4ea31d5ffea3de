use super::*;

fn log() -> (tempfile::TempDir, EventLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::of_store(dir.path());
    (dir, log)
}

fn container_event(action: &str, id: &str, name: &str) -> Event {
    Event::now(
        Kind::Container,
        action,
        id,
        attributes([("image", "busybox".to_string()), ("name", name.to_string())]),
    )
}

#[test]
fn events_carry_dockers_fields_and_print_as_docker_prints_them() {
    let mut event = container_event("start", "abc123", "web");
    event.time_nano = 1_700_000_000_123_456_789;
    event.time = 1_700_000_000;
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["status"], "start");
    assert_eq!(json["id"], "abc123");
    assert_eq!(json["from"], "busybox");
    assert_eq!(json["Type"], "container");
    assert_eq!(json["Action"], "start");
    assert_eq!(json["Actor"]["ID"], "abc123");
    assert_eq!(json["Actor"]["Attributes"]["name"], "web");
    assert_eq!(json["scope"], "local");
    assert_eq!(json["timeNano"], 1_700_000_000_123_456_789i64);
    assert_eq!(
        event.line(),
        "2023-11-14T22:13:20.123456789Z container start abc123 (image=busybox, name=web)"
    );
    let network = Event::now(Kind::Network, "create", "n1", BTreeMap::new());
    let json = serde_json::to_value(&network).unwrap();
    assert!(json.get("status").is_none() && json.get("from").is_none());
}

#[test]
fn a_reader_without_since_sees_only_what_comes_after_it_opened() {
    let (_dir, log) = log();
    log.record(&container_event("create", "old", "a"));
    let mut reader = EventReader::open(&log, EventQuery::default()).unwrap();
    log.record(&container_event("start", "new", "b"));
    let events = reader.next_events().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor.id, "new");
}

#[test]
fn since_replays_the_past_across_a_rotation_then_follows() {
    let (_dir, log) = log();
    let first = container_event("create", "c1", "a");
    log.record(&first);
    // Fill the log past its size limit: the next event starts a new file.
    let filler = "x".repeat(4096);
    while fs::metadata(log.path()).unwrap().len() < ROTATE_AT {
        log.record(&container_event("top", &filler, "f"));
    }
    log.record(&container_event("start", "c1", "a"));
    assert!(log.older().exists());
    let query = EventQuery {
        since: Some(first.time_nano),
        until: None,
        filters: EventFilters::from_args(&["container=c1".to_string()]).unwrap(),
    };
    let mut reader = EventReader::open(&log, query).unwrap();
    let past: Vec<String> = reader
        .next_events()
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(past, ["create", "start"]);
    log.record(&container_event("die", "c1", "a"));
    let mut next = reader.next_events().unwrap();
    if next.is_empty() {
        next = reader.next_events().unwrap();
    }
    assert_eq!(next[0].action, "die");
}

#[test]
fn a_reader_follows_the_log_into_its_next_file() {
    let (_dir, log) = log();
    log.record(&container_event("create", "c0", "a"));
    let mut reader = EventReader::open(&log, EventQuery::default()).unwrap();
    let filler = "y".repeat(4096);
    while !log.older().exists() {
        log.record(&container_event("top", &filler, "f"));
    }
    log.record(&container_event("die", "after", "z"));
    let mut seen = Vec::new();
    while !seen.iter().any(|e: &Event| e.actor.id == "after") {
        let batch = reader.next_events().unwrap();
        assert!(!batch.is_empty(), "the event after the rotation was missed");
        seen.extend(batch);
    }
}

#[test]
fn filters_match_as_dockerds() {
    let filters = |args: &[&str]| {
        EventFilters::from_args(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>()).unwrap()
    };
    let start = container_event("start", "abcdef", "web");
    assert!(filters(&["container=abc"]).matches(&start));
    assert!(filters(&["container=web"]).matches(&start));
    assert!(!filters(&["container=other"]).matches(&start));
    assert!(filters(&["event=start", "event=die"]).matches(&start));
    assert!(!filters(&["event=sta"]).matches(&start));
    assert!(filters(&["type=container", "image=busybox"]).matches(&start));
    assert!(!filters(&["type=image"]).matches(&start));
    let exec = container_event("exec_start: sh -c true", "abcdef", "web");
    assert!(filters(&["event=exec_start"]).matches(&exec));
    let pull = Event::now(
        Kind::Image,
        "pull",
        "busybox:latest",
        attributes([("name", "busybox".to_string())]),
    );
    assert!(filters(&["image=busybox"]).matches(&pull));
    assert!(filters(&["image=busybox:latest"]).matches(&pull));
    let labelled = Event::now(
        Kind::Container,
        "create",
        "x",
        attributes([("tier", "web".to_string()), ("name", "n".to_string())]),
    );
    assert!(filters(&["label=tier"]).matches(&labelled));
    assert!(filters(&["label=tier=web"]).matches(&labelled));
    assert!(!filters(&["label=tier=db"]).matches(&labelled));
    assert!(EventFilters::from_args(&["colour=red".to_string()]).is_err());
    assert!(EventFilters::from_args(&["container".to_string()]).is_err());
}

#[test]
fn a_torn_line_is_skipped_and_the_rest_read() {
    let (_dir, log) = log();
    fs::create_dir_all(&log.dir).unwrap();
    fs::write(log.path(), b"{\"Type\":\"contai\n").unwrap();
    let start = container_event("start", "c9", "a");
    log.record(&start);
    let query = EventQuery {
        since: Some(0),
        ..EventQuery::default()
    };
    let events = EventReader::open(&log, query)
        .unwrap()
        .next_events()
        .unwrap();
    assert_eq!(events, vec![start]);
}
