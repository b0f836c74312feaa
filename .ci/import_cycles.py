#!/usr/bin/env python3
"""Fails when the source files of a crate import each other in a circle.

Every `crate::a::b` path (in `use` items and in expressions) is resolved to the source file of the
longest matching module; an edge goes from the file that names it to that file. A module depends on
the children it declares (`mod x;`); a child naming one of its ancestors is not an edge (the
parent that declares and re-exports its children is the same floor). Any strongly connected component with more than one file is a
circle and is printed. Usage: .ci/import_cycles.py crates/keycard/src [more crate src dirs]
"""
import os, re, sys

def modules(src):
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if not n.endswith('.rs') or (n == 'main.rs' and root == src and 'lib.rs' in names):
                continue
            p = os.path.join(root, n)
            rel = os.path.relpath(p, src)[:-3].split(os.sep)
            if rel[-1] in ('mod', 'lib', 'main'):
                rel = rel[:-1]
            files[tuple(rel)] = p
    return files

PATH = re.compile(r'\bcrate::((?:[a-z_][a-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)')
USE_GROUP = re.compile(r'\buse\s+crate::((?:[a-z_][a-z0-9_]*::)*)\{([^;]*)\}\s*;', re.S)

def strip_comments(text):
    text = re.sub(r'//[^\n]*', '', text)
    return re.sub(r'/\*.*?\*/', '', text, flags=re.S)

def refs(text):
    text = strip_comments(text)
    out = [m.group(1).split('::') for m in PATH.finditer(text)]
    for m in USE_GROUP.finditer(text):
        prefix = [p for p in m.group(1).split('::') if p]
        for item in re.split(r'[,\s]+', m.group(2)):
            item = item.strip('{} ')
            if item and re.match(r'^[a-z_][a-z0-9_]*', item):
                out.append(prefix + item.split('::'))
    return out

def resolve(files, parts):
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in files:
            return tuple(parts[:n])
    return None

def sccs(graph):
    index, low, stack, on, out, i = {}, {}, [], set(), [], [0]
    def strong(v):
        index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            out.append(comp)
    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    return out

def check(src):
    files = modules(src)
    graph = {m: set() for m in files}
    for m, p in files.items():
        with open(p, encoding='utf-8') as f:
            text = f.read()
        for parts in refs(text):
            t = resolve(files, parts)
            if t is None or t == m:
                continue
            # a child naming its ancestor (the module that declares it) is the same floor
            if m[:len(t)] == t:
                continue
            graph[m].add(t)
    # a module depends on the children it declares
    for m in files:
        if len(m) > 0 and m[:-1] in files:
            graph[m[:-1]].add(m)
    bad = [c for c in sccs(graph) if len(c) > 1]
    for c in bad:
        print(f'import circle in {src}: ' + ' -> '.join(sorted(files[x] for x in c)))
    return not bad

if __name__ == '__main__':
    ok = all([check(d) for d in (sys.argv[1:] or ['crates/keycard/src'])])
    sys.exit(0 if ok else 1)
