"""commands/centreon-clapi.txt, read line by line the way Centreon's own `centreon -i FILE` reads it.

What CLAPI does with a file, from Centreon's source (centreon/centreon-archived, the 19.04 line, and
centreon/centreon for current releases; both have the same import loop):

- www/class/centreon-clapi/centreonAPI.class.php, CentreonAPI::import(): a line that is blank or
  starts with `{OBJECT_TYPE}` is skipped; any other line is split on `;`, field 0 (trimmed, case as
  written) is looked up in the $relationObject table, field 1 is the method called on that class
  (PHP method names ignore case), and the rest of the line, trimmed, is the method's argument.
  So a `#` comment is an unknown object type, and the import reports an error there.
- centreonCommand.class.php: CMD ADD is name;type;line, type notif|check|misc|discovery (or 1-4).
- centreonHost.class.php (HTPL is centreonHostTemplate.class.php, a subclass without applytpl and
  setinstance): ADD is name;alias;address;templates;instance;hostgroups, setmacro is
  name;macro;value;is_password;description, and __call handles get/set/add/del + contact,
  contactgroup, hostgroup, template, parent, hostcategory.
- centreonServiceTemplate.class.php: STPL ADD is description;alias;template, setmacro
  name;macro;value[;description...], __call handles get/set/add/del + host, contact, contactgroup,
  trap, hosttemplate (so `addhosttemplate`).
- setparam (host, service template) maps a few names itself (check_command, event_handler, ...)
  and otherwise writes the column `host_<name>` / `service_<name>` as given: a name that is not a
  column of those tables (www/install/createTables.sql) is an SQL error, not a warning.
- Every ADD uses explode(';') and reads fixed positions: an extra field (a `;` inside a command
  line or a value) is silently cut off, so the counts below are exact.
- checkIllegalChar strips the engine's illegal_object_name_chars from names (default
  ~!$%^&*"|'<>?,()=): a later line that names the object as written would not find it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "commands"))
import generate

# $relationObject in CentreonAPI::__construct (core objects; modules may add more).
OBJECT_TYPES = frozenset(
    "CMD HOST SERVICE HGSERVICE VENDOR TRAP HG HC SG SC CONTACT LDAP CONTACTTPL CG DEP DOWNTIME "
    "RTDOWNTIME HTPL STPL TP INSTANCE ENGINECFG CENTBROKERCFG RESOURCECFG ACL ACLGROUP ACLACTION "
    "ACLMENU ACLRESOURCE SETTINGS".split()
)

_HOST_RELATIONS = ("contact", "contactgroup", "hostgroup", "template", "parent", "hostcategory")
_STPL_RELATIONS = ("host", "contact", "contactgroup", "trap", "hosttemplate")

# object type -> action (upper case) -> (fewest, most) fields after OBJECT;ACTION. Only the object
# types this file may use are modelled; any other type is reported, so a new one gets read first.
ACTIONS: dict[str, dict[str, tuple[int, int]]] = {
    "CMD": {"ADD": (3, 3), "SETPARAM": (3, 3), "DEL": (1, 1)},
    "HTPL": {
        "ADD": (6, 6),
        "SETPARAM": (3, 3),
        "SETMACRO": (3, 5),
        "DELMACRO": (2, 2),
        "SETSEVERITY": (2, 2),
        "DEL": (1, 1),
        **{f"{verb}{rel}".upper(): (2, 2) for verb in ("set", "add", "del") for rel in _HOST_RELATIONS},
    },
    "STPL": {
        "ADD": (3, 3),
        "SETPARAM": (3, 3),
        "SETMACRO": (3, 5),
        "DELMACRO": (2, 2),
        "SETSEVERITY": (2, 2),
        "DEL": (1, 1),
        **{f"{verb}{rel}".upper(): (2, 2) for verb in ("set", "add", "del") for rel in _STPL_RELATIONS},
    },
}

COMMAND_TYPES = frozenset({"notif", "check", "misc", "discovery", "1", "2", "3", "4"})
ILLEGAL_NAME_CHARS = frozenset("~!$%^&*\"|'<>?,()=")
# Templates a Centreon install brings (the base-generic pack): the only names this file may use
# without adding them first.
STOCK_HOST_TEMPLATES = frozenset({"generic-host", "generic-active-host", "generic-passive-host"})
STOCK_SERVICE_TEMPLATES = frozenset({"generic-service", "generic-active-service", "generic-passive-service"})

# setparam names the class maps itself (value = what the value must name, if anything).
_SPECIAL_COMMON = {
    "check_command": "CMD",
    "event_handler": "CMD",
    "check_command_arguments": None,
    "event_handler_arguments": None,
    "check_period": "TP",
    "notification_period": "TP",
    "contact_additive_inheritance": None,
    "cg_additive_inheritance": None,
    "flap_detection_options": None,
    "notes": None,
    "notes_url": None,
    "action_url": None,
    "icon_image": None,
    "icon_image_alt": None,
}
SPECIAL_PARAMS = {
    "HTPL": {
        **_SPECIAL_COMMON,
        **dict.fromkeys(("statusmap_image", "2d_coords", "3d_coords", "host_notification_options", "timezone")),
    },
    "STPL": {**_SPECIAL_COMMON, "template": "STPL", "graphtemplate": None, "service_notification_options": None},
}
# Columns of the host and service tables (createTables.sql) that setparam's default branch writes:
# column -> kind of value ("flag": enum '0','1','2'; "int"; "text").
_FLAG, _INT, _TEXT = "flag", "int", "text"
COLUMNS = {
    "HTPL": {
        "host_name": _TEXT,
        "host_alias": _TEXT,
        "host_address": _TEXT,
        "host_max_check_attempts": _INT,
        "host_check_interval": _INT,
        "host_retry_check_interval": _INT,
        "host_active_checks_enabled": _FLAG,
        "host_passive_checks_enabled": _FLAG,
        "host_checks_enabled": _FLAG,
        "host_obsess_over_host": _FLAG,
        "host_check_freshness": _FLAG,
        "host_freshness_threshold": _INT,
        "host_event_handler_enabled": _FLAG,
        "host_low_flap_threshold": _INT,
        "host_high_flap_threshold": _INT,
        "host_flap_detection_enabled": _FLAG,
        "host_process_perf_data": _FLAG,
        "host_retain_status_information": _FLAG,
        "host_retain_nonstatus_information": _FLAG,
        "host_notification_interval": _INT,
        "host_notifications_enabled": _FLAG,
        "host_first_notification_delay": _INT,
        "host_stalking_options": _TEXT,
        "host_snmp_community": _TEXT,
        "host_snmp_version": _TEXT,
        "host_comment": _TEXT,
        "host_activate": _FLAG,
    },
    "STPL": {
        "service_description": _TEXT,
        "service_alias": _TEXT,
        "service_is_volatile": _FLAG,
        "service_max_check_attempts": _INT,
        "service_normal_check_interval": _INT,
        "service_retry_check_interval": _INT,
        "service_active_checks_enabled": _FLAG,
        "service_passive_checks_enabled": _FLAG,
        "service_parallelize_check": _FLAG,
        "service_obsess_over_service": _FLAG,
        "service_check_freshness": _FLAG,
        "service_freshness_threshold": _INT,
        "service_event_handler_enabled": _FLAG,
        "service_low_flap_threshold": _INT,
        "service_high_flap_threshold": _INT,
        "service_flap_detection_enabled": _FLAG,
        "service_process_perf_data": _FLAG,
        "service_retain_status_information": _FLAG,
        "service_retain_nonstatus_information": _FLAG,
        "service_notification_interval": _INT,
        "service_notifications_enabled": _FLAG,
        "service_first_notification_delay": _INT,
        "service_stalking_options": _TEXT,
        "service_comment": _TEXT,
        "service_activate": _FLAG,
    },
}
_PREFIX = {"HTPL": "host_", "STPL": "service_"}
MACRO_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # what stripMacro/wrapMacro keep between $_HOST and $


@dataclass(frozen=True)
class ClapiLine:
    number: int
    object: str
    action: str
    fields: list[str]


def php_trim(text: str) -> str:
    return text.strip(" \t\n\r\0\x0b")


def read_clapi(text: str) -> list[ClapiLine]:
    """CentreonAPI::import's reading of a file: which lines it runs, and with what."""
    lines = []
    for number, raw in enumerate(text.splitlines(keepends=True), start=1):
        if php_trim(raw) == "" or raw.startswith("{OBJECT_TYPE}"):
            continue
        tab = raw.split(";")
        action = php_trim(tab[1]) if len(tab) > 1 else ""
        variables = php_trim(raw[len(tab[0]) + 1 + len(tab[1] if len(tab) > 1 else "") + 1 :])
        lines.append(ClapiLine(number, php_trim(tab[0]), action, variables.split(";")))
    return lines


def problems(text: str) -> list[str]:
    """Every line that Centreon's import would refuse, cut short, or run against a missing object."""
    found: list[str] = []
    added: dict[str, set[str]] = {"CMD": set(), "HTPL": set(STOCK_HOST_TEMPLATES), "STPL": set(STOCK_SERVICE_TEMPLATES)}
    for line in read_clapi(text):
        where = f"line {line.number} ({line.object};{line.action})"
        if line.object not in OBJECT_TYPES:
            found.append(f"{where}: {line.object!r} is not a CLAPI object type")
            continue
        actions = ACTIONS.get(line.object)
        if actions is None:
            found.append(f"{where}: object type not modelled by this test: read its CLAPI class first")
            continue
        bounds = actions.get(line.action.upper())
        if bounds is None:
            found.append(f"{where}: {line.object} has no action {line.action!r}")
            continue
        fewest, most = bounds
        if not fewest <= len(line.fields) <= most:
            found.append(f"{where}: {len(line.fields)} fields, CLAPI reads {fewest}..{most}")
            continue
        found += _check_fields(where, line, added)
    return found


def _check_fields(where: str, line: ClapiLine, added: dict[str, set[str]]) -> list[str]:
    found = []
    name, action = line.fields[0], line.action.upper()
    if action == "ADD":
        if ILLEGAL_NAME_CHARS & set(name):
            found.append(f"{where}: name {name!r} holds characters CLAPI strips")
        if line.object == "CMD" and line.fields[1] not in COMMAND_TYPES:
            found.append(f"{where}: command type {line.fields[1]!r}")
        parents = {"HTPL": line.fields[3].split("|") if line.object == "HTPL" else [], "STPL": []}
        if line.object == "STPL":
            parents["STPL"] = [line.fields[2]]
        for kind, names in parents.items():
            found += [f"{where}: template {p!r} is not defined before" for p in names if p and p not in added[kind]]
        if name in added[line.object]:
            found.append(f"{where}: {name!r} added twice (CLAPI: object already exists)")
        added[line.object].add(name)
        return found
    if name not in added[line.object]:
        return [f"{where}: {name!r} is not added before this line"]
    if action == "SETPARAM" and line.object in COLUMNS:
        param, value = line.fields[1], line.fields[2]
        special = SPECIAL_PARAMS[line.object]
        if param in special:
            target = special[param]
            if target in added and value not in added[target]:
                found.append(f"{where}: {param} names {value!r}, not added before")
            return found
        column = param if param.startswith(_PREFIX[line.object]) else _PREFIX[line.object] + param
        kind = COLUMNS[line.object].get(column)
        if kind is None:
            found.append(f"{where}: {param!r} is no {line.object} parameter (no column {column})")
        elif kind == _FLAG and value not in ("0", "1", "2"):
            found.append(f"{where}: {param} takes 0, 1 or 2, not {value!r}")
        elif kind == _INT and not value.isdigit():
            found.append(f"{where}: {param} takes a number, not {value!r}")
    elif action == "SETMACRO":
        if not MACRO_NAME.match(line.fields[1]):
            found.append(f"{where}: macro name {line.fields[1]!r}")
        if line.object == "HTPL" and len(line.fields) > 3 and line.fields[3] not in ("0", "1"):
            found.append(f"{where}: is_password is {line.fields[3]!r}")
    elif action in ("ADDHOSTTEMPLATE", "SETHOSTTEMPLATE"):
        missing = [t for t in line.fields[1].split("|") if t not in added["HTPL"]]
        found += [f"{where}: host template {t!r} not added before" for t in missing]
    return found


CLAPI_FILE = ROOT / "commands" / "centreon-clapi.txt"


def test_the_generated_file_imports_line_by_line() -> None:
    text = CLAPI_FILE.read_text(encoding="utf-8")
    assert read_clapi(text), "no CLAPI line at all"
    assert problems(text) == []


def test_every_line_is_an_object_line() -> None:
    """Nothing for the import to skip but blank lines: no comment, no header of our own."""
    for number, raw in enumerate(CLAPI_FILE.read_text(encoding="utf-8").splitlines(), start=1):
        assert re.match(r"^[A-Z]+;[A-Za-z]+;", raw), f"line {number}: {raw[:60]!r}"


def test_the_file_creates_every_command_and_template_of_the_source() -> None:
    lines = read_clapi(CLAPI_FILE.read_text(encoding="utf-8"))
    created = {(li.object, li.fields[0]) for li in lines if li.action == "ADD"}
    src = generate.load()
    wanted = {("CMD", c["name"]) for c in src["command"]}
    wanted |= {("HTPL", t["name"]) for t in src.get("host_template", [])}
    wanted |= {("STPL", t["name"]) for t in src.get("service_template", [])}
    assert created == wanted


def test_host_template_macros_carry_all_five_fields() -> None:
    """HOST/HTPL setmacro reads is_password and description at fixed positions."""
    lines = read_clapi(CLAPI_FILE.read_text(encoding="utf-8"))
    macros = [li for li in lines if (li.object, li.action) == ("HTPL", "setmacro")]
    assert macros
    assert all(len(li.fields) == 5 and li.fields[3] == "0" for li in macros)


# The reader must refuse what Centreon refuses: each case is one broken line after a good prefix.
_GOOD = "CMD;ADD;pf_x;check;$USER1$/check_x -H '$HOSTADDRESS$'\nHTPL;ADD;pf-h;Host;;generic-active-host;;\n"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("# generated by hand", "is not a CLAPI object type"),
        ("cmd;ADD;pf_y;check;/bin/true", "is not a CLAPI object type"),
        ("CMD;CREATE;pf_y;check;/bin/true", "has no action"),
        ("CMD;ADD;pf_y;check;/bin/echo a;b", "fields, CLAPI reads"),
        ("CMD;ADD;pf_y;active;/bin/true", "command type"),
        ("CMD;ADD;pf_x;check;/bin/true", "added twice"),
        ("HTPL;ADD;pf-g;Host;;generic-active-host;", "fields, CLAPI reads"),
        ("HTPL;ADD;pf-g;Host;;pf-nope;;", "is not defined before"),
        ("HTPL;ADD;pf(g);Host;;;;", "characters CLAPI strips"),
        ("HTPL;setparam;pf-h;check_command;pf_nope", "not added before"),
        ("HTPL;setparam;pf-h;normal_check_interval;1", "is no HTPL parameter"),
        ("HTPL;setparam;pf-h;active_checks_enabled;yes", "takes 0, 1 or 2"),
        ("HTPL;setparam;pf-h;max_check_attempts;three", "takes a number"),
        ("HTPL;setparam;pf-other;max_check_attempts;3", "is not added before"),
        ("HTPL;setmacro;pf-h;BAD MACRO;1;0;", "macro name"),
        ("STPL;ADD;pf-s;Service;generic-active-service", ""),
        ("STPL;ADD;pf-s;Service;generic-active-service\nSTPL;setparam;pf-s;check_interval;1", "is no STPL parameter"),
        ("STPL;ADD;pf-s;Service;generic-active-service\nSTPL;addhosttemplate;pf-s;pf-nope", "not added before"),
        ("SERVICE;ADD;h;s;generic-active-service", "not modelled"),
    ],
)
def test_the_reader_refuses_what_clapi_refuses(line: str, reason: str) -> None:
    found = problems(_GOOD + line + "\n")
    if reason:
        assert len(found) == 1 and reason in found[0], found
    else:
        assert found == []


def test_blank_lines_and_the_export_header_are_skipped() -> None:
    text = "{OBJECT_TYPE};{COMMAND};{PARAMETERS}\n\n   \n" + _GOOD
    assert [li.number for li in read_clapi(text)] == [4, 5]
    assert problems(text) == []
