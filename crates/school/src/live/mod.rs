//! The live class of a pairing (issue 12 item 5): the city class's teacher
//! publishes camera and voice through cunlink's SFU (`cunlink_rtc::sfu`), each
//! paired rural classroom receives them and speaks back.
//!
//! * `POST /api/school/classes/{id}/live` `{"sdp"}`: the browser's offer in,
//!   `{"sdp","role"}` (the answer) out; [`api`].
//! * `GET /school/classes/{id}/live`: the page, which joins by itself with
//!   `sfu.js` and shows `#call[data-state]`; [`page`].
//!
//! `{id}` is any class of the pairing (the city class or a rural one); the
//! live class is the pairing's. Who joins ([`who`]): the city class's teacher
//! as the teacher; the teachers and members of the pairing's rural classes as
//! classrooms. Anyone else is refused (403), whatever their school.

pub(crate) mod api;
pub(crate) mod page;

use std::sync::Arc;

use cunlink_rtc::sfu::{Role, Sfu, SfuConfig};
use cunlink_rtc::{IceServers, TurnConfig};
use cunlink_core::sql::{Connection, OptionalExtension};

use crate::SchoolError;

/// The live classes' SFU and the TURN settings handed to their pages.
pub struct Live {
    pub sfu: Arc<Sfu>,
    pub turn: TurnConfig,
}

impl Live {
    pub fn start(config: &cunlink_core::Config) -> Result<Live, SchoolError> {
        let sfu = Sfu::start(&SfuConfig {
            udp: config.school.live_udp,
        })?;
        let turn = TurnConfig::new(config.turn_secret.clone(), config.turn_urls.clone());
        Ok(Live { sfu, turn })
    }

    pub fn ice_servers(&self, user: i64) -> IceServers {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        cunlink_rtc::turn::ice_servers(&self.turn, user, now)
    }
}

/// The SFU room of pairing `pairing`.
pub(crate) fn room(pairing: i64) -> String {
    format!("school-pairing-{pairing}")
}

/// The pairing whose live class class `class_id` belongs to, and `user`'s role
/// in it: `Ok(None)` when the class is in no pairing (or does not exist),
/// `Err(Forbidden)` when the user is not the teacher nor a classroom's account.
pub fn who(c: &Connection, class_id: i64, user: i64) -> Result<Option<(i64, Role)>, SchoolError> {
    let Some((pairing, teacher)) = c
        .query_row(
            "SELECT p.id, cc.teacher_id FROM school_pairings p
             JOIN school_classes cc ON cc.id = p.city_class_id
             WHERE p.city_class_id = $1
                OR p.id IN (SELECT pairing_id FROM school_pairing_classes WHERE class_id = $1)
             ORDER BY p.id LIMIT 1",
            [class_id],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)),
        )
        .optional()?
    else {
        return Ok(None);
    };
    if teacher == Some(user) {
        return Ok(Some((pairing, Role::Teacher)));
    }
    let classroom = c
        .query_row(
            "SELECT 1 FROM school_pairing_classes pc JOIN school_classes c ON c.id = pc.class_id
             WHERE pc.pairing_id = $1
               AND (c.teacher_id = $2 OR EXISTS (SELECT 1 FROM school_class_members m
                                                 WHERE m.class_id = c.id AND m.user_id = $2))
             LIMIT 1",
            [pairing, user],
            |_| Ok(()),
        )
        .optional()?;
    match classroom {
        Some(()) => Ok(Some((pairing, Role::Classroom))),
        None => Err(SchoolError::forbidden(
            "only the class's teacher and the paired classrooms join its live class",
        )),
    }
}

pub(crate) fn role_name(r: Role) -> &'static str {
    match r {
        Role::Teacher => "teacher",
        Role::Classroom => "classroom",
    }
}
