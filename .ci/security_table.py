#!/usr/bin/env python3
"""Prints the table of docs/security.md: for each checklist item (A1 … K3), the tests that cite it.

A test cites an item when its name (a1_…, b8_e5_…), its doc comment or its body names the id
("SECURITY C8", "(G9)", "D4"). Scans crates/*/tests and the #[cfg(test)] modules under
crates/*/src. Usage: .ci/security_table.py > table.md (docs/security.md embeds the output).
"""
import glob, os, re

ITEMS = {
    'A': 12, 'B': 9, 'C': 8, 'D': 5, 'E': 6, 'F': 6, 'G': 10, 'H': 4, 'I': 8, 'J': 3, 'K': 3,
}
TITLES = {
    'A1': 'Exact redirect_uri matching', 'A2': 'Loopback port flexibility for native apps only',
    'A3': 'Redirect URI registration constraints', 'A4': 'No redirect for unknown client / redirect URI',
    'A5': 'AS as open redirector (untrusted clients)', 'A6': 'Implicit / front-channel tokens disabled',
    'A7': 'Mix-up: iss in every authorization response', 'A8': 'No CORS at /authorize',
    'A9': 'No 307 after a credential POST', 'A10': 'Duplicate and empty parameters',
    'A11': 'Logout is not an open redirector', 'A12': 'PAR',
    'B1': 'PKCE required', 'B2': 'S256 only', 'B3': 'Verifier checked, failure does not burn the code',
    'B4': 'PKCE downgrade', 'B5': 'Code bound to client and redirect URI',
    'B6': 'Single use, revocation on replay', 'B7': 'Concurrent redemption', 'B8': 'Lifetime and entropy',
    'B9': 'Constant challenge / nonce detection',
    'C1': 'Rotation for public clients', 'C2': 'Reuse detection revokes the family', 'C3': 'Concurrent refresh',
    'C4': 'Binding to client', 'C5': 'No scope escalation on refresh', 'C6': 'Revocation endpoint semantics',
    'C7': 'Lifecycle revocation', 'C8': 'Inactivity and absolute expiry',
    'D1': 'Timing-safe secret comparison', 'D2': 'Brute force of client credentials',
    'D3': 'Where credentials may be sent', 'D4': 'private_key_jwt assertion validation', 'D5': 'Assertion replay',
    'E1': 'Issued JWTs', 'E2': 'JWTs presented back are validated strictly', 'E3': 'Cross-JWT confusion',
    'E4': 'Audience restriction', 'E5': 'No-store, unguessable credentials', 'E6': 'Introspection fails closed',
    'F1': 'DPoP proof syntax', 'F2': 'DPoP htm/htu', 'F3': 'DPoP freshness', 'F4': 'DPoP replay',
    'F5': 'DPoP access-token binding', 'F6': 'DPoP code and refresh binding',
    'G1': 'Login CSRF', 'G2': 'Consent CSRF', 'G3': 'XSS in pages', 'G4': 'Session fixation',
    'G5': 'Cookie attributes', 'G6': 'Clickjacking', 'G7': 'Referer leakage', 'G8': 'Account enumeration',
    'G9': 'Login brute force', 'G10': 'Consent phishing / scope governance',
    'H1': 'ROPC disabled', 'H2': 'Client credentials only for confidential clients', 'H3': 'Device grant',
    'H4': 'Token exchange', 'I1': 'Request size limits', 'I2': 'Header and URL limits', 'I3': 'Slowloris',
    'I4': 'Malformed input', 'I5': 'SQL injection', 'I6': 'SSRF', 'I7': 'Secrets never in logs',
    'I8': 'Proxy header trust', 'J1': 'Admin routes authenticated', 'J2': 'Admin CSRF/CORS',
    'J3': 'No privilege escalation via client management', 'K1': 'Discovery correctness',
    'K2': 'Key rotation', 'K3': 'OIDC request parameters',
}
TEST_ATTR = re.compile(r'#\[(?:tokio::)?test\b')
FN = re.compile(r'\s*(?:pub\s+)?(?:async\s+)?fn\s+([a-z0-9_]+)')


def tests_in(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    out = []
    for i, line in enumerate(lines):
        if not TEST_ATTR.search(line):
            continue
        j = i + 1
        while j < len(lines) and not FN.match(lines[j]):
            j += 1
        if j >= len(lines):
            continue
        name = FN.match(lines[j]).group(1)
        k = i - 1
        while k >= 0 and lines[k].strip().startswith(('///', '#[')):
            k -= 1
        doc = '\n'.join(lines[k + 1:i])
        depth, body, m = 0, [], j
        while m < len(lines):
            body.append(lines[m])
            depth += lines[m].count('{') - lines[m].count('}')
            if depth <= 0 and '{' in ''.join(body):
                break
            m += 1
        out.append((name, doc + '\n' + '\n'.join(body)))
    return out


def cited(name, text):
    ids = set()
    parts = [p for p in name.split('_') if re.fullmatch(r'[a-k][0-9]{1,2}', p)]
    for p in parts:
        ids.add(p.upper())
    for a, b in zip(parts, parts[1:]):  # f1_f6: a range of one letter
        if a[0] == b[0] and int(a[1:]) < int(b[1:]):
            ids.update(f'{a[0].upper()}{n}' for n in range(int(a[1:]), int(b[1:]) + 1))
    for line in text.split('\n'):
        if '//' in line:
            ids.update(re.findall(r'\b([A-K][0-9]{1,2})\b', line.split('//', 1)[1]))
    for m in re.finditer(r'SECURITY\s+((?:[A-K][0-9]{1,2}(?:\s*(?:[,/]|and|–|-)\s*)?)+)', text):
        for r in re.finditer(r'([A-K])([0-9]{1,2})(?:\s*[–-]\s*[A-K]?([0-9]{1,2}))?', m.group(1)):
            lo, hi = int(r.group(2)), int(r.group(3) or r.group(2))
            ids.update(f'{r.group(1)}{n}' for n in range(lo, hi + 1))
    for m in re.finditer(r'\(([A-K][0-9]{1,2})(?:[,/ ]+([A-K][0-9]{1,2}))*\)', text):
        ids.update(x for x in m.groups() if x)
    return {i for i in ids if i in TITLES}


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
    files = sorted(glob.glob(f'{root}/crates/*/tests/**/*.rs', recursive=True))
    files += sorted(glob.glob(f'{root}/crates/*/src/**/*.rs', recursive=True))
    by_item = {}
    for f in files:
        rel = os.path.relpath(f, root)
        short = rel.replace('crates/keycard/', '').replace('crates/', '')
        for name, text in tests_in(f):
            for item in cited(name, text):
                by_item.setdefault(item, []).append(f'`{short}::{name}`')
    print('| Item | What | Tests |')
    print('|---|---|---|')
    for letter, n in ITEMS.items():
        for k in range(1, n + 1):
            item = f'{letter}{k}'
            tests = by_item.get(item)
            cell = '<br>'.join(sorted(set(tests))) if tests else '— (see note below)'
            print(f'| {item} | {TITLES[item]} | {cell} |')


if __name__ == '__main__':
    main()
