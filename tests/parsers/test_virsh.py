"""virsh list (seed 002's libvirt 0.9 layout) and the other virsh outputs."""

from __future__ import annotations

import pytest

from hacert.drivers.parsers import (
    ParseError, parse_domjobinfo, parse_virsh_dominfo, parse_virsh_domstate, parse_virsh_list,
)

from tests.parsers._shared import sample


def test_libvirt_09_list():
    vl = parse_virsh_list(sample("virsh_list_002_l4073.txt"))
    assert vl.domains == {"vm0001-dev": "running", "vm0002-web": "running",
                          "vm0003-db": "shut off", "vm0004-ms": "shut off"}
    assert vl.ids == {"vm0001-dev": 2, "vm0002-web": 4}
    assert vl.locale == "en" and vl.running == ["vm0001-dev", "vm0002-web"]
    assert vl.state_en("vm0003-db") == "shut off"


def test_empty_list_is_a_valid_answer():
    vl = parse_virsh_list(sample("virsh_list_002_l3370_empty.txt"))
    assert vl.domains == {} and vl.ids == {}


def test_long_name_pushes_the_state_column():
    text = (" Id    Name                           State\n"
            "----------------------------------------------------\n"
            " 7     a-domain-name-longer-than-thirty-chars running\n"
            " -     another-very-long-domain-name-here shut off\n")
    vl = parse_virsh_list(text)
    assert vl.domains == {"a-domain-name-longer-than-thirty-chars": "running",
                          "another-very-long-domain-name-here": "shut off"}


def test_unknown_locale_is_flagged_not_translated():
    text = " Id   Nom    État\n-------------------\n 1    vm1    en cours d’exécution\n"
    vl = parse_virsh_list(text)
    assert vl.locale == "unknown"
    assert vl.domains == {"vm1": "en cours d’exécution"}
    assert vl.state_en("vm1") is None and vl.running == []


def test_virsh_error_is_a_parse_error():
    with pytest.raises(ParseError) as err:
        parse_virsh_list("error: failed to connect to the hypervisor\n")
    assert "failed to connect" in str(err.value)


def test_bad_id_column():
    with pytest.raises(ParseError, match="Id"):
        parse_virsh_list(" Id Name                 State\n----------------------------------\n"
                         "  x vm0001-dev           running\n")


# `virsh domjobinfo` as shown in libvirt's "Efficient live full disk backup" kbase article.
JOB_NONE = "Job type:         None\n"
JOB_BACKUP = """\
Job type:         Completed
Operation:        Backup
Time elapsed:     183          ms
File processed:   39.250 MiB
File remaining:   0.000 B
File total:       39.250 MiB
"""


def test_domjobinfo():
    assert parse_domjobinfo(JOB_NONE).job_type == "None"
    job = parse_domjobinfo(JOB_BACKUP)
    assert (job.job_type, job.operation, job.time_elapsed_ms, job.downtime_ms) == ("Completed", "Backup", 183, None)
    assert job.fields["File total"] == "39.250 MiB"


def test_domjobinfo_migration_downtime():
    # virsh prints every millisecond figure as '%-17s %-12llu ms'
    job = parse_domjobinfo("Job type:         Completed\nOperation:        Outgoing migration\n"
                           "Time elapsed:     21000        ms\nTotal downtime:   42           ms\n")
    assert (job.time_elapsed_ms, job.downtime_ms) == (21000, 42)


def test_dominfo_and_domstate():
    info = parse_virsh_dominfo("Id:             2\nName:           vm0001-dev\n"
                               "UUID:           2512b2ed-4b9c-4c4b-a4b6-8ee8e4f0b2b1\nOS Type:        hvm\n"
                               "State:          running\nCPU(s):         2\nMax memory:     2097152 KiB\n"
                               "Used memory:    2097152 KiB\nPersistent:     yes\nAutostart:      disable\n"
                               "Security model: selinux\n"
                               "Security label: system_u:system_r:svirt_t:s0:c1,c2 (enforcing)\n")
    assert (info.id, info.name, info.state, info.cpus, info.max_memory_kib) == (2, "vm0001-dev", "running", 2, 2097152)
    assert (info.persistent, info.autostart) == (True, False)
    assert info.fields["Security label"] == "system_u:system_r:svirt_t:s0:c1,c2 (enforcing)"
    state = parse_virsh_domstate("shut off (destroyed)\n\n")
    assert (state.state, state.reason) == ("shut off", "destroyed")
    assert parse_virsh_domstate("running\n").reason is None
    with pytest.raises(ParseError):
        parse_virsh_domstate("error: failed to get domain 'vm9'\n")
