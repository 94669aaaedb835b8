//! Ticket PDF benchmark: `cargo run --release -p loadgen --bin ticketbench [-- SINGLE_RUNS BULK_PAGES]`.
//!
//! Mirrors the reportlab baseline in shared/anchors/ticket_baseline: the same kind of data, a
//! 295 × 413 JPEG photo, WenQuanYi Micro Hei subset-embedded, one PDF per ticket, then one bulk
//! PDF of 1,000 pages (the baseline shares its one photo across pages too).

use std::time::Instant;

use examdesk_tickets::photo::PhotoFormat;
use examdesk_tickets::token::sign_token;
use examdesk_tickets::{TicketData, TicketFonts, TicketPhoto, number, render_bulk, render_ticket};
use image::{ImageEncoder, Rgb, RgbImage};

const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢";
const GIVEN: &str = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲建国志强文斌晓东海燕雪梅子轩欣怡浩然思远雨涵宇航佳琪博文梓萱";

fn photo() -> Result<TicketPhoto, image::ImageError> {
    let (w, h) = (295u32, 413u32);
    let img = RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - 147.0, y as f32 - 140.0);
        let head = dx * dx / 3364.0 + dy * dy / 5184.0 < 1.0;
        let (sx, sy) = (x as f32 - 147.0, y as f32 - 420.0);
        let body = sx * sx / 15625.0 + sy * sy / 32400.0 < 1.0;
        if head || body {
            Rgb([236, 236, 236])
        } else {
            Rgb([67, 142, 219])
        }
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85).write_image(
        img.as_raw(),
        w,
        h,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(TicketPhoto {
        bytes,
        format: PhotoFormat::Jpeg,
    })
}

fn candidate(i: usize, photo: &TicketPhoto) -> TicketData {
    let s: Vec<char> = SURNAMES.chars().collect();
    let g: Vec<char> = GIVEN.chars().collect();
    let mut name = format!("{}{}", s[i % s.len()], g[(i * 7) % g.len()]);
    if !i.is_multiple_of(3) {
        name.push(g[(i * 13 + 5) % g.len()]);
    }
    let room = (i / 30 % 99 + 1) as u16;
    let seat = (i % 30 + 1) as u16;
    let ticket_no = number::ticket_number("NCRE2026A", room, seat).unwrap_or_default();
    let token = sign_token(b"bench-secret", i as i64 + 1, &ticket_no, 1);
    TicketData {
        exam_title: "2026年上半年全国计算机等级考试".into(),
        exam_code: "NCRE2026A".into(),
        candidate_name: name,
        id_number: format!(
            "1101051990{:02}{:02}{:03}X",
            i % 12 + 1,
            i % 28 + 1,
            i % 1000
        ),
        ticket_no,
        room: format!("第{room:02}考场（教学楼A座{}）", 200 + room),
        seat,
        starts_at: "2026年6月20日（星期六）09:00—11:30".into(),
        venue: "北京市第一考点（海淀区实验中学） 北京市海淀区中关村南大街12号".into(),
        photo: Some(photo.clone()),
        verify_url: format!("https://examdesk.example.cn/verify/{token}"),
        notice: Vec::new(),
    }
}

/// CPU seconds this process has used (Linux, from /proc; 10 ms ticks, fine over many runs).
/// On a shared machine the wall clock also counts time other processes held the cores.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after "pid (comm)".
    (ticks(11) + ticks(12)) / 100.0
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let pages: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);

    let t = Instant::now();
    let fonts = TicketFonts::bundled()?;
    println!("font load: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let photo = photo()?;
    let tickets: Vec<TicketData> = (0..runs.max(pages)).map(|i| candidate(i, &photo)).collect();

    for (label, with_photo) in [("with photo", true), ("without photo", false)] {
        let mut ms = Vec::with_capacity(runs);
        let mut bytes = Vec::with_capacity(runs);
        let mut cpu = 0.0;
        for (i, ticket) in tickets
            .iter()
            .take(runs + 10)
            .cycle()
            .take(runs + 10)
            .enumerate()
        {
            let mut ticket = ticket.clone();
            if !with_photo {
                ticket.photo = None;
            }
            let c = cpu_secs();
            let t = Instant::now();
            let rendered = render_ticket(&fonts, &ticket)?;
            let elapsed = t.elapsed().as_secs_f64() * 1e3;
            if i >= 10 {
                cpu += cpu_secs() - c;
            }
            // The first few warm caches and the allocator; not what a server sees.
            if i >= 10 {
                ms.push(elapsed);
                bytes.push(rendered.pdf.len() as f64);
            }
        }
        let mean_ms = ms.iter().sum::<f64>() / ms.len() as f64;
        let mean_kb = bytes.iter().sum::<f64>() / bytes.len() as f64 / 1024.0;
        println!(
            "single ticket, {label}: median {:.2} ms, mean {mean_ms:.2} ms, CPU {:.2} ms, median {:.1} KB, mean {mean_kb:.1} KB ({} runs)",
            median(&mut ms),
            cpu * 1e3 / ms.len() as f64,
            median(&mut bytes) / 1024.0,
            ms.len()
        );
    }

    let c = cpu_secs();
    let t = Instant::now();
    let bulk = render_bulk(&fonts, &tickets[..pages], |_, _| {})?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "bulk: {pages} pages in {secs:.2} s (CPU {:.2} s, {:.2} ms/page), {:.2} MB ({:.1} KB/page)",
        cpu_secs() - c,
        secs * 1e3 / pages as f64,
        bulk.len() as f64 / 1e6,
        bulk.len() as f64 / 1024.0 / pages as f64
    );
    if let Ok(path) = std::env::var("TICKETBENCH_OUT") {
        std::fs::write(path, &bulk)?;
    }
    Ok(())
}
