//! Slow, idle and too many clients, on real sockets: each limit closes or refuses what it should,
//! and a storm of half-open connections does not keep WeChat's notifies from their SUCCESS.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::candidate_path::{is_success, pay_args, registered};
use crate::common::TestApp;
use crate::common::notify::{notify_fields, signed};

/// Reads until the service closes the connection (or resets it); what it sent, and when it closed.
async fn read_until_closed(stream: &mut TcpStream, started: Instant) -> (String, Duration) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_all)
        .await
        .expect("the service closes the connection within 30 s");
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

/// One whole response from a kept-alive connection, by its Content-Length.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .expect("read");
        assert!(n > 0, "closed before the answer was whole: {received:?}");
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .and_then(|v| v.trim().parse().ok())
                .expect("Content-Length");
            if body.len() >= length {
                return text;
            }
        }
    }
}

async fn get_healthz(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request sent");
    read_response(stream).await
}

#[tokio::test]
async fn headers_never_finished_are_cut_off_by_the_header_limit() {
    let app = TestApp::spawn_with(&[
        ("EXAMDESK_HEADER_TIMEOUT_SECONDS", "1"),
        ("EXAMDESK_KEEPALIVE_SECONDS", "60"),
    ])
    .await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("a head begun");
    // A header line every 300 ms: bytes keep coming, the head never ends.
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if writer
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let mut received = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut received)).await;
    let took = started.elapsed();
    trickle.abort();
    assert!(closed.is_ok(), "the connection is still open after 30 s");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "closed after {took:?}, the limit is 1 s"
    );
    let received = String::from_utf8_lossy(&received);
    assert!(
        !received.contains("200 OK"),
        "the unfinished request was not served: {received}"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_and_a_busy_one_kept() {
    let app = TestApp::spawn_with(&[
        ("EXAMDESK_KEEPALIVE_SECONDS", "1"),
        ("EXAMDESK_HEADER_TIMEOUT_SECONDS", "60"),
    ])
    .await;
    let mut busy = TcpStream::connect(app.addr).await.expect("connect");
    for _ in 0..6 {
        let answer = get_healthz(&mut busy).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    let mut idle = TcpStream::connect(app.addr).await.expect("connect");
    let answer = get_healthz(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (rest, took) = read_until_closed(&mut idle, Instant::now()).await;
    assert_eq!(rest, "", "nothing more is sent before the close");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "closed after {took:?} idle, the limit is 1 s"
    );
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_refused_and_changes_nothing() {
    let app = TestApp::spawn_with(&[("EXAMDESK_BODY_TIMEOUT_SECONDS", "1")]).await;
    // Announces 1,000 bytes, sends 5.
    let mut short = TcpStream::connect(app.addr).await.expect("connect");
    let started = Instant::now();
    short
        .write_all(
            b"POST /wechat/pay/notify HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n\
              Content-Length: 1000\r\n\r\n<xml>",
        )
        .await
        .expect("sent");
    let (answer, took) = read_until_closed(&mut short, started).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "refused after {took:?}, the limit is 1 s"
    );

    // A byte every 200 ms: each frame comes soon enough, the whole body does not.
    let stream = TcpStream::connect(app.addr).await.expect("connect");
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(
            b"POST /wechat/pay/notify HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n\
              Content-Length: 1000\r\n\r\n",
        )
        .await
        .expect("sent");
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(b"x").await.is_err() {
                break;
            }
        }
    });
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut received))
        .await
        .expect("closed within 30 s")
        .ok();
    let took = started.elapsed();
    trickle.abort();
    let answer = String::from_utf8_lossy(&received);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        took < Duration::from_secs(4),
        "a trickled body refused after {took:?}, the limit is 1 s"
    );

    assert_eq!(app.count("SELECT COUNT(*) FROM wechat_callbacks").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM refused_callbacks").await, 0);
}

#[tokio::test]
async fn connections_beyond_the_cap_are_told_the_service_is_busy() {
    let app = TestApp::spawn_with(&[
        ("EXAMDESK_MAX_CONNECTIONS", "8"),
        ("EXAMDESK_KEEPALIVE_SECONDS", "60"),
        ("EXAMDESK_HEADER_TIMEOUT_SECONDS", "60"),
    ])
    .await;
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        let answer = get_healthz(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(stream);
    }
    let mut ninth = TcpStream::connect(app.addr).await.expect("connect");
    let (answer, _) = read_until_closed(&mut ninth, Instant::now()).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: 1"), "{answer}");
    assert!(answer.contains("服务繁忙"), "{answer}");

    // One of the eight goes: its slot is free again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("sent");
        let mut buf = [0u8; 12];
        let n = stream.read(&mut buf).await.unwrap_or(0);
        if &buf[..n] == b"HTTP/1.1 200" {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came free within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_notifies_get_success_within_5_s_while_thousands_of_connections_hang() {
    const HANGING: usize = 4000;
    const ORDERS: usize = 20;
    let mut limits = examdesk::config::ConnectionLimits::default();
    // The test holds both ends of every connection, as many files as the service would.
    examdesk::app::fit_connections_to_open_files(&mut limits);
    assert!(
        limits.max_connections as usize > HANGING,
        "this machine allows too few open files for the test: {limits:?}"
    );
    // Default limits: what production runs with.
    let app = TestApp::spawn_with(&[("EXAMDESK_LOGIN_PER_MINUTE", "0")]).await;
    let exam_id = app.exam("SLOW1").capacity(100).create().await;
    let mut notifies = Vec::new();
    for seq in 0..ORDERS {
        let (token, id) = registered(&app, &format!("slow{seq}"), exam_id, seq as u32 + 1).await;
        let args = pay_args(&app, &token, id).await;
        notifies.push(signed(notify_fields(
            args["out_trade_no"].as_str().unwrap(),
            5000,
            &format!("42000000012026120300{seq:08}"),
        )));
    }

    let started = Instant::now();
    let mut hanging = Vec::with_capacity(HANGING);
    for _ in 0..HANGING {
        let mut s = TcpStream::connect(app.addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("a head begun");
        hanging.push(s);
    }
    let opened_in = started.elapsed();

    let url = app.at("/wechat/pay/notify");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut sending = tokio::task::JoinSet::new();
    for body in notifies {
        let (http, url) = (http.clone(), url.clone());
        sending.spawn(async move {
            let sent = Instant::now();
            let answer = http
                .post(url)
                .body(body)
                .send()
                .await
                .expect("answered within 5 s");
            (answer.text().await.expect("text"), sent.elapsed())
        });
    }
    let answers = sending.join_all().await;
    for (answer, took) in &answers {
        assert!(is_success(answer), "{answer}");
        assert!(*took < Duration::from_secs(5), "SUCCESS after {took:?}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE status = 'paid'")
            .await,
        ORDERS as i64
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the {HANGING} connections were opened ({opened_in:?}) and the notifies answered before the \
         header limit could have closed any; took {:?}",
        started.elapsed()
    );

    // The header limit (10 s by default) then closes every hanging connection.
    let mut reading = tokio::task::JoinSet::new();
    for mut s in hanging {
        reading.spawn(async move {
            let mut buf = [0u8; 64];
            matches!(
                tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await,
                Ok(Ok(0) | Err(_))
            )
        });
    }
    let closed = reading.join_all().await;
    assert_eq!(closed.iter().filter(|c| **c).count(), HANGING);
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "closed by the 10 s limit, not before"
    );
}
