# SPDX-License-Identifier: BSD-2-Clause
"""The repository stands on its own: every tracked file is checked for reads or names of
paths outside the repository (a developer's machine, folders beside the clone), for
references to an issue tracker in place of an explanation, and for an SPDX licence line
that agrees with LICENSE. Runs without root and without a build."""

import os
import re
import subprocess
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Paths that exist only on a developer's machine or beside a clone.
# They are spelled in pieces here, so that this file itself names none of them.
_UP, _SH, _WK = r"\.\.", "sha" + "red", "/wo" + "rk/"
OUTSIDE = re.compile("|".join([_UP + "/" + _SH, r"(?<![\w.])" + _SH + "/reference", "LAB-" + "NOTES",
                               r"\bDES" + r"IGN\.md", _WK, "/tmp/" + "bash_jobs", "/ro" + r"ot/(?!\.kube)"]))
# A pointer to a tracker instead of the reasoning itself.
TRACKER = re.compile(r"\b(?:issue|task|ticket)s?\s*#?\d+\b|\bissue's\b|\bthe issue\b", re.I)

# Which licence each part carries (LICENSE says the same in words).
GPL = "GPL-2.0"
DUAL = "GPL-2.0 OR BSD-2-Clause"
BSD = "BSD-2-Clause"
SOURCE = re.compile(r"(\.(c|h|py|sh|bash|mk)|(^|/)Makefile(\.\w+)?|(^|/)Containerfile)$")


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p and os.path.isfile(os.path.join(ROOT, p))]


def expected_licence(path):
    if path.startswith("bpf/") or path.endswith(".bpf.c"):
        return GPL
    if path.startswith("include/"):
        return DUAL
    return BSD


def read_text(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        data = f.read()
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


class RepoHygiene(unittest.TestCase):
    def setUp(self):
        if not os.path.isdir(os.path.join(ROOT, ".git")) and not os.path.isfile(os.path.join(ROOT, ".git")):
            self.fail("not a git checkout: the hygiene checks read `git ls-files`")
        self.files = tracked_files()
        self.assertGreater(len(self.files), 50, "git ls-files listed too few files")

    def test_patterns_catch_what_they_must(self):
        # The checks themselves must be able to fail.
        up, sh, wk = "..", "sha" + "red", "/wo" + "rk/"
        iss = "iss" + "ue"
        for bad in (f"see {up}/{sh}/DES" + "IGN.md", f"default {wk}{sh}/reference/k8s", "(LAB-" + "NOTES)",
                    f"as {iss} 5 asks", f"the {iss}'s bound", "Ta" + "sk 3: fix"):
            self.assertTrue(OUTSIDE.search(bad) or TRACKER.search(bad), bad)
        for fine in ("state shared by the programs", "tests/fixtures/k8s", "kubernetes/kubernetes#3030",
                     "~/.kube/config", "an issuer", "$HOME/.kube"):
            self.assertFalse(OUTSIDE.search(fine) or TRACKER.search(fine), fine)

    def test_no_path_outside_the_repository(self):
        found = []
        for path in self.files:
            text = read_text(path)
            if text is None:
                continue
            for n, line in enumerate(text.splitlines(), 1):
                if OUTSIDE.search(line):
                    found.append(f"{path}:{n}: {line.strip()[:120]}")
        self.assertEqual(found, [], "tracked files name paths outside the repository:\n" + "\n".join(found))

    def test_no_tracker_references(self):
        found = []
        for path in self.files:
            if path.startswith("LICENSES/"):
                continue
            text = read_text(path)
            if text is None:
                continue
            for n, line in enumerate(text.splitlines(), 1):
                if TRACKER.search(line):
                    found.append(f"{path}:{n}: {line.strip()[:120]}")
        self.assertEqual(found, [], "tracked files cite a tracker instead of explaining:\n" + "\n".join(found))

    def test_licence_files_exist(self):
        for name in ("LICENSE", "LICENSES/GPL-2.0.txt", "LICENSES/BSD-2-Clause.txt"):
            self.assertTrue(os.path.isfile(os.path.join(ROOT, name)), name)
        with open(os.path.join(ROOT, "LICENSE")) as f:
            text = f.read()
        for licence in (GPL, DUAL, BSD):
            self.assertIn(licence, text)

    def test_every_source_file_has_the_right_spdx_line(self):
        wrong = []
        for path in self.files:
            if not SOURCE.search(path) or path.startswith(("LICENSES/", "tests/fixtures/")):
                continue
            head = "\n".join((read_text(path) or "").splitlines()[:3])
            m = re.search(r"SPDX-License-Identifier: ([^*\n]+?)\s*(\*/)?$", head, re.M)
            want = expected_licence(path)
            if not m:
                wrong.append(f"{path}: no SPDX-License-Identifier line in its first 3 lines (want {want})")
            elif m.group(1) != want:
                wrong.append(f"{path}: SPDX {m.group(1)!r}, LICENSE says {want!r}")
        self.assertEqual(wrong, [], "\n".join(wrong))


if __name__ == "__main__":
    unittest.main()
