// Runs the framework-neutral firmware cases (tests/micropython/cases_*.py) under the MicroPython
// WebAssembly port. Usage: node run.mjs <micropython.mjs> <firmware/hublight dir> [case module...]
// Prints one JSON line per test ({"module","test","ok","error"}) and a summary; exit code 1 on any
// failure.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [mjsPath, firmwareDir, ...only] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const { loadMicroPython } = await import(mjsPath);
let out = "";
const mp = await loadMicroPython({
  heapsize: 64 * 1024 * 1024,
  stdout: (line) => { out += line + "\n"; },
  stderr: (line) => { out += line + "\n"; },
});

function mkdirs(dir) {
  let cur = "";
  for (const part of dir.split("/").filter(Boolean)) {
    cur += "/" + part;
    try { mp.FS.mkdir(cur); } catch (e) { /* exists */ }
  }
}

function copyDir(src, dst) {
  mkdirs(dst);
  for (const name of fs.readdirSync(src)) {
    if (name.endsWith(".py")) {
      mp.FS.writeFile(dst + "/" + name, fs.readFileSync(path.join(src, name)));
    }
  }
}
copyDir(firmwareDir, "/lib/hublight");
copyDir(here, "/cases");

const modules = only.length ? only : fs.readdirSync(here)
  .filter((n) => n.startsWith("cases_") && n.endsWith(".py")).map((n) => n.slice(0, -3)).sort();

const driver = `
import sys, json, asyncio
if "/lib" not in sys.path: sys.path.append("/lib")
if "/cases" not in sys.path: sys.path.append("/cases")
async def _run_module(name):
    # The port's top-level coroutine cannot be thrown into (wait_for breaks there): run the cases
    # in a real task and poll it.
    box = []
    async def body():
        box.append(await _run_cases(name))
    task = asyncio.create_task(body())
    while not task.done():
        await asyncio.sleep(0.005)
    if not box:
        return [{"module": name, "test": "<runner>", "ok": False, "error": "runner task died"}]
    return box[0]
async def _run_cases(name):
    results = []
    try:
        mod = __import__(name)
    except Exception as exc:
        sys.print_exception(exc)
        return [{"module": name, "test": "<import>", "ok": False, "error": repr(exc)}]
    names = sorted(n for n in dir(mod) if n.startswith("test_"))
    for test in names:
        fn = getattr(mod, test)
        try:
            res = fn()
            if hasattr(res, "send"):
                await res
            results.append({"module": name, "test": test, "ok": True, "error": None})
        except Exception as exc:
            sys.print_exception(exc)
            results.append({"module": name, "test": test, "ok": False, "error": repr(exc)})
    return results
`;
mp.runPython(driver);
let failed = 0;
let total = 0;
for (const name of modules) {
  out = "";
  mp.globals.set("_module_name", name);
  await mp.runPythonAsync("_results = json.dumps(await _run_module(_module_name))");
  const results = JSON.parse(mp.globals.get("_results"));
  for (const r of results) {
    total += 1;
    if (!r.ok) { failed += 1; r.output = out; }
    console.log(JSON.stringify(r));
  }
}
console.log(JSON.stringify({ summary: true, total, failed }));
process.exit(failed ? 1 : 0);
