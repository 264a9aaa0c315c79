//! The demo village's school: a lesson channel published by 县城第一小学 whose
//! media is generated here (a read-aloud tone, an HTML5 clock lesson, an SVG
//! fractions picture, a small PDF handout, an arithmetic exercise; nothing is
//! downloaded), a course "用直播卖农产品" for villagers and a teacher-training
//! course for 茶香村小学's teacher, both with quizzes, and a pairing of
//! 县城第一小学 and 茶香村小学 with next week's classes.

use std::sync::Arc;

use anyhow::{Context, anyhow};
use serde_json::json;

use cunlink_core::auth::{AuthService, Role, User};
use cunlink_school::School;
use cunlink_school::content;
use cunlink_school::course_store as cs;
use cunlink_school::store::{self, FileEntry};

use crate::demo::VILLAGE;

pub const CITY_TEACHER: &str = "laoshi_xc";
pub const VILLAGE_TEACHER: &str = "laoshi_cx";
pub const VILLAGER: &str = "cunmin";
const PASSWORD: &str = "cunlink-demo";
const CITY: &str = "县城";

pub async fn seed(school: &Arc<School>) -> anyhow::Result<()> {
    let s = school.clone();
    tokio::task::spawn_blocking(move || seed_blocking(&s))
        .await
        .context("demo school task")?
}

fn user(auth: &AuthService, name: &str, role: Role, village: &str) -> anyhow::Result<User> {
    Ok(auth.create_user_blocking(name, PASSWORD, role, Some(village))?)
}

/// A 2-second 440 Hz tone, 8 kHz mono 16-bit WAV (stands in for a recording).
fn wav() -> Vec<u8> {
    let rate = 8000u32;
    let n = rate * 2;
    let mut out = Vec::with_capacity(44 + n as usize * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + n * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(n * 2).to_le_bytes());
    for i in 0..n {
        let t = i as f64 / rate as f64;
        let v = (t * 440.0 * std::f64::consts::TAU).sin() * 8000.0;
        out.extend_from_slice(&(v as i16).to_le_bytes());
    }
    out
}

const CLOCK_HTML: &str = r##"<!doctype html><meta charset="utf-8"><title>认识钟表</title>
<body style="font:20px sans-serif;text-align:center">
<h1>认识钟表</h1><svg width="220" height="220" viewBox="-110 -110 220 220">
<circle r="100" fill="#fff" stroke="#333" stroke-width="4"/>
<line id="h" x1="0" y1="0" x2="0" y2="-50" stroke="#333" stroke-width="8"/>
<line id="m" x1="0" y1="0" x2="0" y2="-80" stroke="#c33" stroke-width="4"/></svg>
<p>现在是 <b id="t">3:00</b>，点按钮让时间走一走。</p><button onclick="go()">走 15 分钟</button>
<script>var min=180;function go(){min+=15;var h=Math.floor(min/60)%12,m=min%60;
document.getElementById('t').textContent=(h||12)+':'+(m<10?'0':'')+m;
document.getElementById('h').setAttribute('transform','rotate('+(h*30+m/2)+')');
document.getElementById('m').setAttribute('transform','rotate('+(m*6)+')');}</script>"##;

const FRACTIONS_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="300" height="120" viewBox="0 0 300 120">
<rect x="10" y="10" width="280" height="40" fill="#fff" stroke="#333"/><rect x="10" y="10" width="140" height="40" fill="#6a6"/>
<text x="150" y="80" font-size="20" text-anchor="middle">1/2</text>
<rect x="10" y="90" width="280" height="20" fill="#fff" stroke="#333"/><rect x="10" y="90" width="70" height="20" fill="#69c"/></svg>"##;

/// A one-page PDF handout (base-14 font, so ASCII text only).
fn pdf() -> Vec<u8> {
    let text = "Grade 3 maths: 3 x 4 = 12, 12 / 4 = 3. Practise with the exercise lesson.";
    let stream = format!("BT /F1 14 Tf 40 760 Td ({text}) Tj ET");
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn seed_blocking(s: &School) -> anyhow::Result<()> {
    let seeded =
        s.db.call_blocking(|c| store::channels(c, 1))
            .map_err(|e| anyhow!("{e}"))?;
    if !seeded.is_empty() {
        return Ok(());
    }
    let city = user(&s.auth, CITY_TEACHER, Role::Teacher, CITY)?;
    let rural = user(&s.auth, VILLAGE_TEACHER, Role::Teacher, VILLAGE)?;
    let villager = user(&s.auth, VILLAGER, Role::Villager, VILLAGE)?;
    let exercise = json!({"title": "口算练习", "questions": [
        {"prompt": "3 × 4 =", "answer": "12"}, {"prompt": "12 ÷ 4 =", "answer": "3"}]});
    let files: Vec<(&str, &str, &str, Vec<u8>)> = vec![
        ("语文", "audio", "朗读：静夜思.wav", wav()),
        (
            "数学",
            "html5",
            "认识钟表.html",
            CLOCK_HTML.as_bytes().to_vec(),
        ),
        (
            "数学",
            "image",
            "分数图解.svg",
            FRACTIONS_SVG.as_bytes().to_vec(),
        ),
        ("数学", "pdf", "三年级数学讲义.pdf", pdf()),
        (
            "数学",
            "exercise",
            "口算练习.json",
            exercise.to_string().into_bytes(),
        ),
    ];
    let mut stored = Vec::new();
    for (topic, kind, name, data) in files {
        let (sha, size, chunks) = content::put_bytes(&s.content, &data)?;
        stored.push((
            FileEntry {
                name: name.into(),
                sha256: sha,
                size: size as i64,
                topic: topic.into(),
                kind: kind.into(),
            },
            chunks,
        ));
    }
    let city_village = city.village_id;
    s.db.call_blocking(|c| -> anyhow::Result<()> {
        let tx = c.transaction()?;
        let ch = store::create_channel(&tx, "县城第一小学 · 三年级", "县城第一小学老师录制的三年级语文、数学课，供村小同步使用。", city_village, city.id)?;
        for (f, chunks) in &stored {
            store::put_blob(&tx, &f.sha256, f.size, chunks)?;
            store::set_file(&tx, ch, f)?;
        }
        store::publish(&tx, ch)?;

        let live = cs::create_course(&tx, "用直播卖农产品", "villagers", "手机直播卖茶叶、香菇：准备、讲解、下单和售后。", rural.village_id, rural.id)?;
        cs::add_item(&tx, live, "lesson", "开播前的准备", "1. 手机支架和补光灯\n2. 先在家里试播，检查网络\n3. 准备好要讲的三句话：产地、品质、价格", None, None, None)?;
        cs::add_item(&tx, live, "lesson", "怎样讲清楚一款茶", "让观众看到茶园、炒茶和干茶；价格按斤讲清楚，运费说在前面。", None, None, None)?;
        let quiz = json!([
            {"kind": "single", "prompt": "开播前最重要的一步是？", "options": ["先试播", "直接开播"], "answer": [0],
             "feedback_right": "对，试播能发现网络和灯光的问题。", "feedback_wrong": "先试播，检查网络和灯光。"},
            {"kind": "multiple", "prompt": "哪些做法能让买家更信任？", "options": ["展示茶园和炒茶", "夸大功效", "讲清价格和运费"], "answer": [0, 2],
             "feedback_right": "讲真话、给看真东西。", "feedback_wrong": "不要夸大功效，要展示产地、讲清价格。"},
            {"kind": "fill", "prompt": "龙井茶一般按多少克一斤卖？（填数字）", "answer": ["500", "500克", "500g"],
             "feedback_right": "对，一斤是 500 克。", "feedback_wrong": "一斤是 500 克。"}
        ]);
        cs::add_item(&tx, live, "quiz", "小测验", "", None, Some(&quiz.to_string()), None)?;
        cs::enrol(&tx, live, Some(villager.id), None)?;

        let train = cs::create_course(&tx, "教师培训：复式班教学与课堂提问", "teachers", "县教师发展中心的远程培训：一位老师同时带两个年级。", city_village, city.id)?;
        cs::add_item(&tx, train, "lesson", "复式班的时间安排", "一节课分成“动”“静”两段：给一个年级讲新课时，另一个年级做练习。", None, None, None)?;
        let quiz = json!([
            {"kind": "single", "prompt": "复式班里，一个年级听讲时另一个年级应该？", "options": ["做安排好的练习", "自由活动"], "answer": [0],
             "feedback_right": "对，“动静搭配”。", "feedback_wrong": "要给另一个年级安排好练习。"},
            {"kind": "fill", "prompt": "好的课堂提问应该留出几秒等待时间？（填数字）", "answer": ["3", "3秒", "5", "5秒"],
             "feedback_right": "对，至少等 3 秒。", "feedback_wrong": "提问后至少等 3 到 5 秒再点名。"}
        ]);
        cs::add_item(&tx, train, "quiz", "培训小测", "", None, Some(&quiz.to_string()), None)?;
        cs::enrol(&tx, train, Some(rural.id), None)?;

        // 县城第一小学 三年级(1)班 paired with 茶香村小学 三年级; Wednesday's
        // Chinese class uses the channel, pulled the day before.
        let city_class = cs::create_class(&tx, "三年级(1)班", "县城第一小学", city_village, city.id)?;
        let rural_class = cs::create_class(&tx, "三年级", "茶香村小学", rural.village_id, rural.id)?;
        cs::add_member(&tx, rural_class, villager.id)?;
        let pairing = cunlink_school::pairings::create(&tx, "县城第一小学 × 茶香村小学 三年级", city_class, &[rural_class], city.id)?;
        cunlink_school::pairings::add_slot(&tx, pairing, 3, 10 * 60, 40, "语文：静夜思", Some(ch))?;
        cunlink_school::pairings::add_slot(&tx, pairing, 5, 14 * 60, 40, "数学：认识钟表", Some(ch))?;
        tx.commit()?;
        Ok(())
    })?;
    Ok(())
}
