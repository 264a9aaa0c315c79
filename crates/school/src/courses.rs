//! Courses: lessons, quizzes, enrolment, scores.

use cunlink_core::routes::Routes;

use crate::routes::SchoolState;

pub(crate) fn routes() -> Routes<SchoolState> {
    Routes::new()
}
