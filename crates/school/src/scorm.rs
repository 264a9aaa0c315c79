//! SCORM 1.2 import.
