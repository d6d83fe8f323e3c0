#!/usr/bin/env python3
"""Brings an lwIP source tree to rawflow's patch series (stack/patches/series), idempotently.

    apply.py apply DIR    patch DIR: reverse whatever an earlier series applied that differs
                          from the current one, then apply the rest; quick when up to date
    apply.py check DIR    exit 0 when DIR carries exactly the current series, 1 when not
    apply.py list         the series, one patch file per line

stack/fetch-lwip runs "apply" on the tree it unpacks (and on an existing stack/lwip), and
stack/meson.build runs it at every configure, so that a tree fetched before a patch existed
gets it too. A tree given with -Dlwip_src=PATH is only checked; it is patched when its owner
asks: `stack/fetch-lwip --patch PATH`.

State lives in DIR/.rawflow-patches/: "applied" lists "sha256 name" for each applied patch,
in order, next to a copy of each patch (what it takes to reverse it later, offline). The state
is rewritten after every single patch, so an interrupted run resumes where it stopped, and a
lock file there serialises concurrent runs (two configures of two build folders at once).

The patches are unified diffs (lwIP's files have CRLF line ends; the patches carry them).
Each hunk must match exactly, at its line or, if earlier changes moved it, at exactly one
other place in the file: no fuzz, since a patch that no longer fits must fail loudly. A patch
is applied to all its files or to none. Python rather than patch(1): meson needs python3
anyway, and Debian's patch package is not always installed.
"""
import fcntl
import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STATE = '.rawflow-patches'


class PatchError(Exception):
    pass


def series():
    """The patch files of the series, in order."""
    names = []
    with open(os.path.join(HERE, 'series')) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith('#'):
                names.append(line)
    return names


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def split_lines(data):
    """Lines of bytes, each with its b'\\n' (and b'\\r' before it, if any)."""
    lines = data.split(b'\n')
    return [l + b'\n' for l in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def parse(data, name):
    """[(path, [(old_start, new_start, old_lines, new_lines)])] from a unified diff."""
    files = []
    lines = split_lines(data)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(b'--- ') and i + 1 < len(lines) and lines[i + 1].startswith(b'+++ '):
            path = lines[i + 1][4:].split(b'\t')[0].strip().decode()
            if not path.startswith('b/'):
                raise PatchError('%s: file name %s lacks the b/ prefix' % (name, path))
            files.append((path[2:], []))
            i += 2
            continue
        m = re.match(rb'@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@', line)
        if m:
            if not files:
                raise PatchError('%s: hunk before any file header' % name)
            n_old = int(m.group(2)) if m.group(2) is not None else 1
            n_new = int(m.group(4)) if m.group(4) is not None else 1
            old, new = [], []
            i += 1
            while (len(old) < n_old or len(new) < n_new) and i < len(lines):
                l = lines[i]
                tag, body = l[:1], l[1:]
                if tag == b' ':
                    old.append(body)
                    new.append(body)
                elif tag == b'-':
                    old.append(body)
                elif tag == b'+':
                    new.append(body)
                elif l.rstrip(b'\r\n') == b'':
                    old.append(b'\n')  # a context line that an editor stripped to nothing
                    new.append(b'\n')
                else:
                    raise PatchError('%s: malformed hunk line %r' % (name, l[:40]))
                i += 1
            while i < len(lines) and lines[i].startswith(b'\\'):  # "\ No newline at end of file"
                i += 1
            if len(old) != n_old or len(new) != n_new:
                raise PatchError('%s: truncated hunk in %s' % (name, files[-1][0]))
            files[-1][1].append((int(m.group(1)), int(m.group(3)), old, new))
            continue
        i += 1  # header text, "diff" lines and the like
    if not files:
        raise PatchError('%s: no file changes found' % name)
    return files


def apply_hunks(text, hunks, name, path, reverse):
    """The file's new content (list of lines), or PatchError."""
    out = list(text)
    delta = 0
    for old_start, new_start, old, new in hunks:
        start = old_start
        if reverse:
            old, new, start = new, old, new_start
        at = max(start - 1 + delta, 0) if old else start + delta
        n = len(old)
        if out[at:at + n] != old:
            places = [k for k in range(len(out) - n + 1) if out[k:k + n] == old]
            if len(places) != 1:
                raise PatchError('%s: a hunk for %s (line %d) does not match %s' %
                                 (name, path, start,
                                  'anywhere' if not places else 'at one place only'))
            at = places[0]
        out[at:at + n] = new
        delta = at + len(new) - (start - 1) - n if old else delta + len(new)
    return out


def apply_patch(tree, data, name, reverse=False):
    changes = []
    for path, hunks in parse(data, name):
        full = os.path.join(tree, path)
        try:
            with open(full, 'rb') as f:
                text = split_lines(f.read())
        except OSError as e:
            raise PatchError('%s: cannot read %s: %s' % (name, full, e.strerror))
        changes.append((full, apply_hunks(text, hunks, name, path, reverse)))
    for full, lines in changes:  # every hunk of every file matched: now write them
        tmp = full + '.rawflow-tmp'
        with open(tmp, 'wb') as f:
            f.write(b''.join(lines))
        os.chmod(tmp, os.stat(full).st_mode & 0o7777)
        os.replace(tmp, full)


def read_state(state):
    try:
        with open(os.path.join(state, 'applied')) as f:
            return [tuple(l.split()) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def write_state(state, applied):
    tmp = os.path.join(state, 'applied.tmp')
    with open(tmp, 'w') as f:
        for digest, name in applied:
            f.write('%s %s\n' % (digest, name))
    os.replace(tmp, os.path.join(state, 'applied'))


def wanted():
    out = []
    for name in series():
        with open(os.path.join(HERE, name), 'rb') as f:
            out.append((sha256(f.read()), name, ))
    return out


def cmd_apply(tree):
    if not os.path.isfile(os.path.join(tree, 'src', 'core', 'tcp.c')):
        raise PatchError('%s is not an lwIP source tree (no src/core/tcp.c)' % tree)
    state = os.path.join(tree, STATE)
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, 'lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        want = wanted()
        have = read_state(state)
        keep = 0
        while keep < min(len(want), len(have)) and want[keep] == have[keep]:
            keep += 1
        while len(have) > keep:  # reverse what differs, newest first
            digest, name = have[-1]
            with open(os.path.join(state, name), 'rb') as f:
                data = f.read()
            if sha256(data) != digest:
                raise PatchError('%s: the stored copy of %s was changed; delete %s and fetch '
                                 'lwIP again' % (state, name, tree))
            apply_patch(tree, data, name, reverse=True)
            have.pop()
            write_state(state, have)
            os.unlink(os.path.join(state, name))
            print('lwip patches: reversed %s' % name, file=sys.stderr)
        for digest, name in want[keep:]:
            with open(os.path.join(HERE, name), 'rb') as f:
                data = f.read()
            apply_patch(tree, data, name)
            with open(os.path.join(state, name), 'wb') as f:
                f.write(data)
            have.append((digest, name))
            write_state(state, have)
            print('lwip patches: applied %s' % name, file=sys.stderr)
    return 0


def cmd_check(tree):
    return 0 if read_state(os.path.join(tree, STATE)) == wanted() else 1


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == 'apply':
            return cmd_apply(argv[2])
        if len(argv) == 3 and argv[1] == 'check':
            return cmd_check(argv[2])
        if len(argv) == 2 and argv[1] == 'list':
            print('\n'.join(series()))
            return 0
    except PatchError as e:
        print('lwip patches: %s' % e, file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
