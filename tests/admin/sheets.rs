//! The exam-day sheets of a room as staff print them: 考场门贴 and 考生签到表 for one room, and every
//! room at once through the bulk print with its progress page. The PDFs are read back as a
//! reader would: A4 pages, embedded fonts, the text on each page, the photos.

use examdesk::db::admins::Role;
use lopdf::{Document, Object};

use crate::common::fixtures::jpeg;
use crate::common::staff::*;
use crate::common::{TestApp, id_number, wait_until};

/// A paid candidate with a seat: registration id, name, ticket number and ID number.
struct Seated {
    id: i64,
    name: String,
    ticket_no: String,
    id_number: String,
}

async fn seated(
    app: &TestApp,
    sim: &wechat_pay_v2_simulator::Simulator,
    exam_id: i64,
    name: &str,
    seq: u32,
) -> Seated {
    let r = paid(app, sim, exam_id, name, seq).await;
    let reg = wait_until(&format!("registration {} gets a seat", r.id), async || {
        examdesk::db::registrations::get(&app.state.db, r.id)
            .await
            .unwrap()
            .filter(|r| r.ticket_no.is_some())
            .ok_or("no seat yet")
    })
    .await;
    Seated {
        id: r.id,
        name: name.to_string(),
        ticket_no: reg.ticket_no.unwrap_or_default(),
        id_number: id_number(seq),
    }
}

/// The candidate (signed in again with the code `staff::registered` used) uploads a photo.
async fn upload_photo(app: &TestApp, seq: u32, name: &str, id: i64) {
    let token = app.login(&format!("code-{seq}-{name}")).await;
    let res = app
        .http
        .put(app.at(&format!("/api/v1/registrations/{id}/photo")))
        .bearer_auth(&token)
        .header("content-type", "image/jpeg")
        .body(jpeg(300, 400))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "photo accepted");
}

struct Pdf {
    doc: Document,
    /// Each page's text in drawing order, spaces and line breaks removed.
    pages: Vec<String>,
}

fn parse(bytes: &[u8]) -> Pdf {
    let doc = Document::load_mem(bytes).expect("a PDF");
    let pages = doc
        .get_pages()
        .keys()
        .map(|n| {
            doc.extract_text(&[*n])
                .unwrap_or_default()
                .replace(['\n', ' '], "")
        })
        .collect();
    Pdf { doc, pages }
}

impl Pdf {
    fn text(&self) -> String {
        self.pages.concat()
    }

    fn assert_a4(&self) {
        for (n, id) in self.doc.get_pages() {
            let page = self.doc.get_dictionary(id).unwrap();
            let media: Vec<f32> = page
                .get(b"MediaBox")
                .and_then(Object::as_array)
                .unwrap()
                .iter()
                .map(|v| v.as_float().unwrap_or_else(|_| v.as_i64().unwrap() as f32))
                .collect();
            assert!(
                (media[2] - 595.28).abs() < 1.0 && (media[3] - 841.89).abs() < 1.0,
                "page {n} is A4: {media:?}"
            );
        }
    }

    /// Every font descriptor carries its font file, so the sheet prints the same anywhere.
    fn assert_fonts_embedded(&self) {
        let descriptors: Vec<&lopdf::Dictionary> = self
            .doc
            .objects
            .values()
            .filter_map(|o| o.as_dict().ok())
            .filter(|d| {
                d.get(b"Type").and_then(Object::as_name).ok() == Some(b"FontDescriptor".as_slice())
            })
            .collect();
        assert!(!descriptors.is_empty(), "fonts are used");
        for d in descriptors {
            assert!(
                d.has(b"FontFile2") || d.has(b"FontFile3") || d.has(b"FontFile"),
                "font embedded: {d:?}"
            );
        }
    }

    fn images(&self) -> usize {
        self.doc
            .objects
            .values()
            .filter(|o| {
                o.as_stream()
                    .ok()
                    .and_then(|s| s.dict.get(b"Subtype").ok())
                    .and_then(|v| v.as_name().ok())
                    == Some(b"Image".as_slice())
            })
            .count()
    }
}

async fn fetch(client: &reqwest::Client, url: String, filename: &str) -> Pdf {
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.contains(filename), "{disposition}");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    parse(&res.bytes().await.unwrap())
}

#[tokio::test]
async fn one_room_prints_its_door_list_and_sign_in_sheet() {
    let (app, sim) = spawn().await;
    let exam_id = app.exam("ROOM26").capacity(50).create().await;
    let names = ["王小明", "欧阳晓东", "李雷", "韩梅梅"];
    let mut people = Vec::new();
    for (i, name) in names.iter().enumerate() {
        people.push(seated(&app, &sim, exam_id, name, 60 + i as u32).await);
    }
    upload_photo(&app, 61, "欧阳晓东", people[1].id).await;
    // Not paid: registered, never listed.
    registered(&app, exam_id, "未缴费", 70).await;
    // Paid, then refunded in full: the ticket is void, so off the sheets.
    let refunded = seated(&app, &sim, exam_id, "退考生", 71).await;
    let admin = staff(&app, Role::Admin).await;
    let (_, page) = get_text(
        &admin,
        app.at(&format!("/admin/registrations/{}", refunded.id)),
    )
    .await;
    let form = refund_form(&page).expect("a refund form for the paid order");
    let res = admin
        .post(app.at(&form.action))
        .form(&[
            ("csrf", form.csrf.as_str()),
            ("out_refund_no", form.out_refund_no.as_str()),
            ("amount", "50.00"),
            ("reason", "考生申请退考"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    wait_for_status(&app, refunded.id, "refunded").await;

    let finance = staff(&app, Role::Finance).await;
    let (_, exam_page) = get_text(
        &finance,
        app.at(&format!("/admin/exams/{exam_id}/registrations")),
    )
    .await;
    let door_href = format!("/admin/exams/{exam_id}/rooms/1/door-list.pdf");
    let sheet_href = format!("/admin/exams/{exam_id}/rooms/1/sign-in-sheet.pdf");
    assert!(
        exam_page.contains(&door_href) && exam_page.contains(&sheet_href),
        "the exam's page links each room's sheets"
    );
    assert!(exam_page.contains("打印全部考场门贴") && exam_page.contains("打印全部签到表"));

    let door = fetch(&finance, app.at(&door_href), "door-list-ROOM26-room01.pdf").await;
    let sheet = fetch(
        &finance,
        app.at(&sheet_href),
        "sign-in-sheet-ROOM26-room01.pdf",
    )
    .await;
    for (what, pdf) in [("door list", &door), ("sign-in sheet", &sheet)] {
        assert_eq!(pdf.pages.len(), 1, "{what}: four candidates fit one page");
        pdf.assert_a4();
        pdf.assert_fonts_embedded();
        let text = pdf.text();
        assert!(text.contains("ROOM26全国英语等级考试"), "{what}: {text}");
        assert!(
            text.contains("第01考场") && text.contains("座位001–030"),
            "{what}: {text}"
        );
        assert!(text.contains("第1页/共1页"), "{what}: {text}");
        let mut last = 0;
        for p in &people {
            assert!(text.contains(&p.name), "{what} lists {}", p.name);
            let at = text
                .find(&p.ticket_no)
                .unwrap_or_else(|| panic!("{what}: {} in {text}", p.ticket_no));
            assert!(at > last, "{what}: in seat order");
            last = at;
            assert!(
                !text.contains(&p.id_number),
                "{what}: never the full ID number"
            );
        }
        assert!(
            !text.contains("未缴费") && !text.contains("退考生"),
            "{what}: {text}"
        );
        assert!(
            !text.contains(&refunded.ticket_no),
            "{what}: a void ticket is not listed"
        );
    }
    let sheet_text = sheet.text();
    for p in &people {
        let last4 = &p.id_number[p.id_number.len() - 4..];
        assert!(
            sheet_text.contains(last4),
            "sign-in sheet: {last4} of {}",
            p.name
        );
    }
    assert!(sheet_text.contains("考生签名") && sheet_text.contains("监考员签字"));
    assert!(
        sheet_text.contains("无照片"),
        "the three without photo get an empty box"
    );
    assert_eq!(sheet.images(), 1, "the uploaded photo is embedded");
    assert_eq!(door.images(), 0, "no photos on the door");

    // Rooms that do not exist: the admin 404 page.
    for url in [
        format!("/admin/exams/{exam_id}/rooms/9/door-list.pdf"),
        format!("/admin/exams/{exam_id}/rooms/abc/sign-in-sheet.pdf"),
        "/admin/exams/999999/rooms/1/door-list.pdf".to_string(),
    ] {
        let (status, html) = get_text(&finance, app.at(&url)).await;
        assert_eq!(status, 404, "{url}");
        assert!(html.contains("页面不存在"), "{html}");
    }

    // Personal data, as the ticket batch: not for viewers, and not without signing in.
    let viewer = staff(&app, Role::Viewer).await;
    let res = viewer.get(app.at(&sheet_href)).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let (_, viewer_page) = get_text(
        &viewer,
        app.at(&format!("/admin/exams/{exam_id}/registrations")),
    )
    .await;
    assert!(
        !viewer_page.contains(&sheet_href),
        "no links a viewer cannot follow"
    );
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = anonymous.get(app.at(&door_href)).send().await.unwrap();
    assert_eq!(res.status(), 303, "sent to sign in");
}

#[tokio::test]
async fn every_room_at_once_through_the_bulk_print() {
    let (app, sim) = spawn().await;
    // Rooms of 30 and 20 seats: 30 candidates fill the first, 3 go to the second.
    let exam_id = app.exam("ALLR26").capacity(50).create().await;
    let mut people = Vec::new();
    let surnames = [
        "赵", "钱", "孙", "李", "周", "吴", "郑", "王", "冯", "陈", "卫",
    ];
    for i in 0..33u32 {
        let name = format!(
            "{}{}",
            surnames[i as usize % 11],
            ["一", "二", "三"][i as usize / 11]
        );
        people.push(seated(&app, &sim, exam_id, &name, 100 + i).await);
    }
    let finance = staff(&app, Role::Finance).await;

    // The first room runs over three sign-in pages, each numbered and headed.
    let room1 = fetch(
        &finance,
        app.at(&format!("/admin/exams/{exam_id}/rooms/1/sign-in-sheet.pdf")),
        "sign-in-sheet-ALLR26-room01.pdf",
    )
    .await;
    assert_eq!(room1.pages.len(), 3);
    for (k, page) in room1.pages.iter().enumerate() {
        assert!(page.contains(&format!("第{}页/共3页", k + 1)), "{page}");
        assert!(
            page.contains("考生签到表") && page.contains("第01考场"),
            "{page}"
        );
    }
    assert!(room1.pages[0].contains(&people[0].ticket_no));
    assert!(room1.pages[2].contains(&people[29].ticket_no));
    assert!(!room1.pages[0].contains(&people[29].ticket_no));
    let mut expected = std::collections::HashMap::new();
    for (kind, file) in [
        ("sign_in_sheets", "sign-in-sheet"),
        ("door_lists", "door-list"),
    ] {
        let mut pages = 0;
        for room in [1, 2] {
            let pdf = fetch(
                &finance,
                app.at(&format!("/admin/exams/{exam_id}/rooms/{room}/{file}.pdf")),
                &format!("{file}-ALLR26-room0{room}.pdf"),
            )
            .await;
            pages += pdf.pages.len();
        }
        expected.insert(kind, pages);
    }
    assert_eq!(expected["sign_in_sheets"], 3 + 1);
    assert_eq!(expected["door_lists"], 1 + 1);

    let (_, page) = get_text(
        &finance,
        app.at(&format!("/admin/exams/{exam_id}/registrations")),
    )
    .await;
    let csrf = field(&page, "csrf");
    for (kind, heading, filename) in [
        (
            "sign_in_sheets",
            "批量生成考生签到表",
            "sign-in-sheets-ALLR26-all-rooms-",
        ),
        (
            "door_lists",
            "批量生成考场门贴",
            "door-lists-ALLR26-all-rooms-",
        ),
    ] {
        let res = finance
            .post(app.at(&format!("/admin/exams/{exam_id}/sheets")))
            .form(&[("csrf", csrf.as_str()), ("kind", kind)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "redirected to the progress page");
        let progress_url = res.url().to_string();
        assert!(res.text().await.unwrap().contains(heading));
        let html = wait_until("the bulk PDF is ready", async || {
            let (_, html) = get_text(&finance, progress_url.clone()).await;
            if html.contains("batch-download") {
                Ok(html)
            } else {
                Err(html)
            }
        })
        .await;
        assert!(
            html.contains(&format!("已完成：共 {} 页", expected[kind])),
            "{html}"
        );
        let pdf = fetch(&finance, format!("{progress_url}/tickets.pdf"), filename).await;
        assert_eq!(
            pdf.pages.len(),
            expected[kind],
            "{kind}: the rooms' pages together"
        );
        pdf.assert_a4();
        let text = pdf.text();
        assert!(text.contains("第01考场") && text.contains("第02考场"));
        for p in &people {
            assert!(text.contains(&p.ticket_no), "{kind}: {}", p.ticket_no);
        }
    }

    // Bad input changes nothing; viewers are refused as for the ticket batch.
    let batches = || app.count("SELECT COUNT(*) FROM ticket_batches");
    let before = batches().await;
    let res = finance
        .post(app.at(&format!("/admin/exams/{exam_id}/sheets")))
        .form(&[("csrf", csrf.as_str()), ("kind", "tickets")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let viewer = staff(&app, Role::Viewer).await;
    let (_, page) = get_text(&viewer, app.at("/admin")).await;
    let res = viewer
        .post(app.at(&format!("/admin/exams/{exam_id}/sheets")))
        .form(&[
            ("csrf", field(&page, "csrf").as_str()),
            ("kind", "door_lists"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(batches().await, before, "no batch started");
}
