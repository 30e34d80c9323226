//! The flow's parameters (reference §2.2): their JSON schema for the run form, and validation that
//! returns every field error at once.
//!
//! Decisions where the reference is ambiguous:
//! - `credentials` is the id (UUID) of a credentials block, as DESIGN §9 says; its schema carries
//!   `block_type_slug: dhis2-credentials` (the port's block type, DESIGN §4) so the UI renders a picker.
//! - Unknown parameter names are refused (`additionalProperties: false`) so typos never pass silently.
//! - `end_date` and `end_period_offset` are checked whenever given (format; offset ≥ 0) but only
//!   *required* in their own mode; outside it they are ignored, as in the reference.
//! - `prediction_setup_id` is any integer; an id chap does not know is reported by the run, not here.
//!   `prediction_setup_ids` (issue 12) is its general form: a non-empty list of at most 1,000 ids,
//!   duplicates dropped; giving both is refused.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::end_period::EndSpec;

/// Slug of the block type the `credentials` parameter refers to.
pub const CREDENTIALS_BLOCK_TYPE: &str = "dhis2-credentials";

/// Field name → message, for every invalid parameter.
pub type FieldErrors = BTreeMap<String, String>;

/// `end_mode`: how the last input period is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndMode {
    /// Probe DHIS2 for the latest period where every covariate has data (default).
    #[default]
    Calculated,
    /// The period covering `end_date`.
    Fixed,
    /// `end_period_offset` periods before the one covering today.
    Offset,
}

impl EndMode {
    /// The values accepted for `end_mode`, in form order.
    pub const ALL: [&'static str; 3] = ["calculated", "fixed", "offset"];

    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            EndMode::Calculated => "calculated",
            EndMode::Fixed => "fixed",
            EndMode::Offset => "offset",
        }
    }
}

/// `import_to_dhis2`: whether forecasts are written back into DHIS2's data elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportMode {
    /// Nothing is sent to DHIS2 (default).
    #[default]
    Off,
    /// DHIS2 checks every value (`dryRun=true`) and stores nothing.
    DryRun,
    /// A dry run, then the import in batches.
    Import,
}

impl ImportMode {
    /// The values accepted for `import_to_dhis2`, in form order.
    pub const ALL: [&'static str; 3] = ["off", "dry_run", "import"];

    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMode::Off => "off",
            ImportMode::DryRun => "dry_run",
            ImportMode::Import => "import",
        }
    }

    fn parse(raw: &str) -> Option<ImportMode> {
        match raw {
            "off" => Some(ImportMode::Off),
            "dry_run" => Some(ImportMode::DryRun),
            "import" => Some(ImportMode::Import),
            _ => None,
        }
    }
}

/// Most ids `prediction_setup_ids` may name.
pub const MAX_SETUP_IDS: usize = 1000;

/// The probabilities `outbreak_probability` accepts, in form order.
pub const OUTBREAK_PROBABILITIES: [f64; 5] = [0.9, 0.75, 0.5, 0.25, 0.1];
/// `outbreak_probability` when not given.
pub const DEFAULT_OUTBREAK_PROBABILITY: f64 = 0.75;

/// Parameters after validation: the combination is known to be consistent.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowParams {
    /// Id of the credentials block to use.
    pub credentials: Uuid,
    /// The chosen end mode with its value.
    pub end: EndSpec,
    /// Restrict the run to these setups, in any order (they then run even with
    /// `scheduleEnabled = false`): `prediction_setup_ids`, or `prediction_setup_id` as a list of one.
    pub setup_ids: Option<Vec<i64>>,
    /// Skip a setup whose last input period is not after that of its last successful prediction.
    pub only_new_data: bool,
    /// Whether forecasts go into DHIS2.
    pub import_to_dhis2: ImportMode,
    /// The probability of exceeding chap's threshold that raises the outbreak indicator: the
    /// indicator compares quantile `1 - outbreak_probability` with the threshold.
    pub outbreak_probability: f64,
}

impl FlowParams {
    /// The mode the run was triggered with.
    pub fn end_mode(&self) -> EndMode {
        match self.end {
            EndSpec::Calculated => EndMode::Calculated,
            EndSpec::Fixed(_) => EndMode::Fixed,
            EndSpec::Offset(_) => EndMode::Offset,
        }
    }
}

/// The JSON schema (draft 2020-12) of the parameters, rendered by the UI as the run form.
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "dhis2-chap-prediction parameters",
        "type": "object",
        "properties": {
            "credentials": {
                "title": "DHIS2 credentials",
                "description": "The credentials block of the DHIS2 instance to predict for.",
                "type": "string",
                "format": "uuid",
                "block_type_slug": CREDENTIALS_BLOCK_TYPE
            },
            "end_mode": {
                "title": "End mode",
                "description": "How the last input period is chosen: calculated = latest period where every \
                                covariate has data in DHIS2; fixed = the period covering end_date; offset = \
                                end_period_offset periods before the current one.",
                "type": "string",
                "enum": EndMode::ALL,
                "default": "calculated"
            },
            "end_date": {
                "title": "End date",
                "description": "Required when end_mode is fixed; the period covering this date is the last input period.",
                "type": ["string", "null"],
                "format": "date",
                "default": null
            },
            "end_period_offset": {
                "title": "End period offset",
                "description": "Required when end_mode is offset: 0 = the current period, 1 = the last completed one.",
                "type": ["integer", "null"],
                "minimum": 0,
                "default": null
            },
            "prediction_setup_id": {
                "title": "Prediction setup id",
                "description": "Run only this chap prediction setup (even if its schedule is disabled).",
                "type": ["integer", "null"],
                "default": null
            },
            "prediction_setup_ids": {
                "title": "Prediction setup ids",
                "description": "Run only these chap prediction setups (even if their schedules are disabled); \
                                the general form of prediction_setup_id, which may not be given with it.",
                "type": ["array", "null"],
                "items": { "type": "integer" },
                "minItems": 1,
                "maxItems": MAX_SETUP_IDS,
                "default": null
            },
            "only_new_data": {
                "title": "Only new data",
                "description": "Skip a setup whose last input period is not after the one of its last \
                                successful prediction on this DHIS2 (no chap job, no analytics beyond the \
                                freshness probe).",
                "type": "boolean",
                "default": false
            },
            "import_to_dhis2": {
                "title": "Import forecasts to DHIS2",
                "description": "Write each setup's forecast into the data elements of its quantile targets: \
                                off = not at all; dry_run = DHIS2 checks every value and stores nothing; \
                                import = a dry run, then the values (existing values are updated, never \
                                deleted).",
                "type": "string",
                "enum": ImportMode::ALL,
                "default": "off"
            },
            "outbreak_probability": {
                "title": "Outbreak probability",
                "description": "For an outbreak_indicator target: the indicator is 1 where the forecast \
                                exceeds chap's seasonal threshold with at least this probability (its \
                                quantile 1 - probability is at or above the threshold).",
                "type": "number",
                "enum": OUTBREAK_PROBABILITIES,
                "default": DEFAULT_OUTBREAK_PROBABILITY
            }
        },
        "required": ["credentials"],
        "additionalProperties": false,
        "allOf": [
            {
                "if": { "properties": { "end_mode": { "const": "fixed" } }, "required": ["end_mode"] },
                "then": { "required": ["end_date"], "properties": { "end_date": { "type": "string" } } }
            },
            {
                "if": { "properties": { "end_mode": { "const": "offset" } }, "required": ["end_mode"] },
                "then": {
                    "required": ["end_period_offset"],
                    "properties": { "end_period_offset": { "type": "integer" } }
                }
            }
        ]
    })
}

/// Validates raw parameters (a JSON object), returning every field error at once.
pub fn validate(raw: &Value) -> Result<FlowParams, FieldErrors> {
    let mut errors = FieldErrors::new();
    let empty = Map::new();
    let obj = match raw {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => {
            errors.insert("parameters".into(), "must be a JSON object".into());
            return Err(errors);
        }
    };
    let field = |name: &str| obj.get(name).filter(|v| !v.is_null());

    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "credentials"
                | "end_mode"
                | "end_date"
                | "end_period_offset"
                | "prediction_setup_id"
                | "prediction_setup_ids"
                | "only_new_data"
                | "import_to_dhis2"
                | "outbreak_probability"
        ) {
            errors.insert(key.clone(), "unknown parameter".into());
        }
    }

    let credentials = match field("credentials") {
        None => {
            errors.insert(
                "credentials".into(),
                format!("required: the id of a {CREDENTIALS_BLOCK_TYPE} block"),
            );
            None
        }
        Some(v) => match v.as_str().map(Uuid::parse_str) {
            Some(Ok(id)) => Some(id),
            _ => {
                errors.insert(
                    "credentials".into(),
                    format!("must be the id (UUID) of a {CREDENTIALS_BLOCK_TYPE} block"),
                );
                None
            }
        },
    };

    let end_mode = match field("end_mode") {
        None => Some(EndMode::Calculated),
        Some(v) => match v.as_str() {
            Some("calculated") => Some(EndMode::Calculated),
            Some("fixed") => Some(EndMode::Fixed),
            Some("offset") => Some(EndMode::Offset),
            _ => {
                errors.insert(
                    "end_mode".into(),
                    format!("must be one of {}, got {v}", EndMode::ALL.join(", ")),
                );
                None
            }
        },
    };

    let end_date = match field("end_date") {
        None => None,
        Some(v) => match v.as_str().map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d")) {
            Some(Ok(date)) => Some(date),
            _ => {
                errors.insert(
                    "end_date".into(),
                    format!("must be a date YYYY-MM-DD, got {v}"),
                );
                None
            }
        },
    };

    let end_period_offset = match field("end_period_offset") {
        None => None,
        Some(v) => match v.as_i64() {
            Some(n) if n < 0 => {
                errors.insert(
                    "end_period_offset".into(),
                    format!("end_period_offset must be >= 0, got {n}"),
                );
                None
            }
            Some(n) => match u32::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.insert("end_period_offset".into(), format!("is too large: {n}"));
                    None
                }
            },
            None => {
                errors.insert(
                    "end_period_offset".into(),
                    format!("must be a non-negative integer, got {v}"),
                );
                None
            }
        },
    };

    let prediction_setup_id = match field("prediction_setup_id") {
        None => None,
        Some(v) => match v.as_i64() {
            Some(id) => Some(id),
            None => {
                errors.insert(
                    "prediction_setup_id".into(),
                    format!("must be an integer, got {v}"),
                );
                None
            }
        },
    };

    let prediction_setup_ids = match field("prediction_setup_ids") {
        None => None,
        Some(v) => match setup_id_list(v) {
            Ok(ids) => Some(ids),
            Err(message) => {
                errors.insert("prediction_setup_ids".into(), message);
                None
            }
        },
    };
    let setup_ids = match (prediction_setup_id, prediction_setup_ids) {
        (Some(_), Some(_)) => {
            errors.insert(
                "prediction_setup_ids".into(),
                "give prediction_setup_id or prediction_setup_ids, not both".into(),
            );
            None
        }
        (Some(id), None) => Some(vec![id]),
        (None, ids) => ids,
    };

    let only_new_data = match field("only_new_data") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            errors.insert(
                "only_new_data".into(),
                format!("must be true or false, got {v}"),
            );
            false
        }
    };

    let import_to_dhis2 = match field("import_to_dhis2") {
        None => ImportMode::Off,
        Some(v) => v.as_str().and_then(ImportMode::parse).unwrap_or_else(|| {
            errors.insert(
                "import_to_dhis2".into(),
                format!("must be one of {}, got {v}", ImportMode::ALL.join(", ")),
            );
            ImportMode::Off
        }),
    };

    let outbreak_probability = match field("outbreak_probability") {
        None => DEFAULT_OUTBREAK_PROBABILITY,
        Some(v) => v
            .as_f64()
            .and_then(|p| {
                OUTBREAK_PROBABILITIES
                    .into_iter()
                    .find(|allowed| (allowed - p).abs() < 1e-9)
            })
            .unwrap_or_else(|| {
                errors.insert(
                    "outbreak_probability".into(),
                    format!("must be one of 0.9, 0.75, 0.5, 0.25, 0.1, got {v}"),
                );
                DEFAULT_OUTBREAK_PROBABILITY
            }),
    };

    let end = match end_mode {
        Some(EndMode::Calculated) => Some(EndSpec::Calculated),
        Some(EndMode::Fixed) => match end_date {
            Some(date) => Some(EndSpec::Fixed(date)),
            None => {
                errors
                    .entry("end_date".into())
                    .or_insert_with(|| "end_mode='fixed' requires end_date to be set".into());
                None
            }
        },
        Some(EndMode::Offset) => match end_period_offset {
            Some(n) => Some(EndSpec::Offset(n)),
            None => {
                errors.entry("end_period_offset".into()).or_insert_with(|| {
                    "end_mode='offset' requires end_period_offset to be set".into()
                });
                None
            }
        },
        None => None,
    };

    match (credentials, end) {
        (Some(credentials), Some(end)) if errors.is_empty() => Ok(FlowParams {
            credentials,
            end,
            setup_ids,
            only_new_data,
            import_to_dhis2,
            outbreak_probability,
        }),
        _ => Err(errors),
    }
}

/// A non-empty list of at most [`MAX_SETUP_IDS`] integer ids, duplicates dropped (first kept).
fn setup_id_list(v: &Value) -> Result<Vec<i64>, String> {
    let items = v
        .as_array()
        .ok_or_else(|| format!("must be a list of integers, got {v}"))?;
    if items.is_empty() {
        return Err("must name at least one setup".into());
    }
    if items.len() > MAX_SETUP_IDS {
        return Err(format!("must name at most {MAX_SETUP_IDS} setups"));
    }
    let mut ids: Vec<i64> = Vec::with_capacity(items.len());
    for item in items {
        let id = item
            .as_i64()
            .ok_or_else(|| format!("must be a list of integers, got {item} in it"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// One line summarising field errors, e.g. for the run's state message and the report.
pub fn describe_errors(errors: &FieldErrors) -> String {
    errors
        .iter()
        .map(|(field, message)| format!("{field}: {message}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
