//! The paced sender's bounds: a stream whose clip ends ends by itself and says what it sent,
//! the number of streams is capped, and a runtime too busy to run any task delays no packet
//! (the sender is a thread of its own; timestamps count the packets sent).

use std::time::Duration;

use dialtone_media::g711::Law;
use dialtone_media::pacer::{Config, Pacer, PlayError};
use dialtone_media::rtp::Packet;
use dialtone_media::source::{Clip, Player};
use dialtone_media::tone::Tone;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_that_ends_ends_its_stream_and_the_bound_holds() {
    let pacer = Pacer::start(Config {
        tick: Duration::from_millis(5),
        max_streams: 2,
        ..Config::default()
    });
    let rx = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = rx.local_addr().unwrap();
    let socket = pacer.socket("127.0.0.1:0".parse().unwrap(), None).unwrap();
    // The go-ahead tone plays once: 0.6 s, 30 packets.
    let mut once = pacer
        .play(
            socket.clone(),
            to,
            Law::A,
            Box::new(Player::new(Tone::GoAhead.clip(Law::Mu))),
        )
        .unwrap();
    let mut looped = pacer
        .play(
            socket.clone(),
            to,
            Law::Mu,
            Box::new(Player::new(Tone::Dial.clip(Law::Mu))),
        )
        .unwrap();
    let third = pacer.play(
        socket.clone(),
        to,
        Law::Mu,
        Box::new(Player::new(Clip::from_pcm(&[0; 160], Law::Mu, false))),
    );
    assert!(matches!(third, Err(PlayError::Full(2))));
    let sent = tokio::time::timeout(Duration::from_secs(5), once.ended())
        .await
        .expect("the stream ended with its clip")
        .unwrap();
    assert_eq!(sent.packets, 30);
    assert_eq!(pacer.streams(), 1);
    // What arrived from the one-shot stream is A-law (transcoded from the µ-law clip).
    let mut buf = [0u8; 2048];
    let mut from_once = 0;
    let mut from_looped = 0;
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(200), rx.recv(&mut buf)).await
    {
        let p = Packet::parse(&buf[..n]).unwrap();
        if p.header.ssrc == looped.ssrc {
            from_looped += 1;
            assert_eq!(p.header.payload_type, 0);
        } else {
            from_once += 1;
            assert_eq!(p.header.payload_type, 8);
        }
        if from_looped > 200 {
            break;
        }
    }
    assert_eq!(from_once, 30);
    looped.stop();
    let _ = tokio::time::timeout(Duration::from_secs(2), looped.ended())
        .await
        .unwrap();
    assert_eq!(pacer.streams(), 0);
    // A place freed is a place to play again.
    assert!(pacer
        .play(
            socket,
            to,
            Law::Mu,
            Box::new(Player::new(Tone::Busy.clip(Law::Mu)))
        )
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_too_busy_for_any_task_delays_no_packet() {
    let pacer = Pacer::start(Config {
        tick: Duration::from_millis(10),
        ..Config::default()
    });
    // The listener is a thread of its own too, stamping each packet as it comes.
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    let listener = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        (0..60)
            .map(|_| {
                let n = rx.recv(&mut buf).unwrap();
                (
                    std::time::Instant::now(),
                    Packet::parse(&buf[..n]).unwrap().header,
                )
            })
            .collect::<Vec<_>>()
    });
    let socket = pacer.socket("127.0.0.1:0".parse().unwrap(), None).unwrap();
    let playing = pacer
        .play(
            socket,
            to,
            Law::Mu,
            Box::new(Player::new(Tone::Ringback.clip(Law::Mu))),
        )
        .unwrap();
    // Block both workers for 400 ms: a sender that were a task would send nothing meanwhile.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let block = || async { std::thread::sleep(Duration::from_millis(400)) };
    let (a, b) = tokio::join!(tokio::spawn(block()), tokio::spawn(block()));
    a.unwrap();
    b.unwrap();
    let heard = tokio::task::spawn_blocking(move || listener.join().unwrap())
        .await
        .unwrap();
    let (seq0, ts0) = (heard[0].1.sequence, heard[0].1.timestamp);
    for (i, (_, h)) in heard.iter().enumerate() {
        assert_eq!(h.sequence, seq0.wrapping_add(i as u16));
        assert_eq!(h.timestamp, ts0.wrapping_add(160 * i as u32));
    }
    let longest = heard
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0))
        .max()
        .unwrap();
    assert!(
        longest < Duration::from_millis(150),
        "a {longest:?} silence while the runtime was blocked"
    );
    playing.stop();
}
