// Node side of bench.firmware: runs one MicroPython script on the MicroPython WebAssembly port,
// which is a 32-bit MicroPython (sys.maxsize == 2**31 - 1), as the ESP32 is; the unix port here
// is 64-bit. Installed from bench/package.json (`npm ci --prefix bench`).
//
//   node --expose-gc bench/firmware_wasm.mjs RELEASE_DIR HARDWARE_DIR SCRIPT PARAMS_JSON
//
// The .mpy files of RELEASE_DIR are copied to /release on the port's in-memory filesystem
// (emscripten's MEMFS, outside the MicroPython heap), the .py files of HARDWARE_DIR (the stand-ins
// for machine and network) to /hardware, PARAMS_JSON to /params.json, an empty folder
// /flash is made for the box, and SCRIPT is run with sys.argv == ["bench", "/params.json"], as the
// unix port runs it with `micropython -c`.
// Whatever the script prints goes to stdout; exit status 1 if it raised.
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const [releaseDir, hardwareDir, scriptPath, paramsPath] = process.argv.slice(2);
if (!paramsPath) {
  console.error("usage: node --expose-gc firmware_wasm.mjs RELEASE_DIR HARDWARE_DIR SCRIPT PARAMS_JSON");
  process.exit(2);
}
// The script calls V8's collector (js.gc) before it measures: JS keeps Python objects alive until
// V8 finalizes the JS objects that refer to them, so without it the heap figure varies by KBs.
if (typeof globalThis.gc !== "function") {
  console.error("firmware_wasm.mjs: run node with --expose-gc");
  process.exit(2);
}

const mp = await loadMicroPython({
  heapsize: 1024 * 1024, // the GC heap; gc.mem_alloc() counts blocks in use, not this size
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

mp.FS.mkdir("/release");
for (const name of fs.readdirSync(releaseDir)) {
  if (name.endsWith(".mpy")) {
    mp.FS.writeFile("/release/" + name, fs.readFileSync(path.join(releaseDir, name)));
  }
}
mp.FS.mkdir("/hardware");
for (const name of fs.readdirSync(hardwareDir)) {
  if (name.endsWith(".py")) {
    mp.FS.writeFile("/hardware/" + name, fs.readFileSync(path.join(hardwareDir, name)));
  }
}
mp.FS.writeFile("/params.json", fs.readFileSync(paramsPath));
mp.FS.mkdir("/flash"); // the box's flash folder (no LittleFS on this port)
// Frozen modules first, then the stand-ins, then the release: the unix port gets
// MICROPYPATH=".frozen:HARDWARE_DIR:RELEASE".
mp.runPython("import sys\nsys.path[:] = ['.frozen', '/hardware', '/release']\nsys.argv[:] = ['bench', '/params.json']\n");

// This port's asyncio has no run(): its scheduler is driven by JS timers. So asyncio.run(coro)
// makes coro a task, as run() does on the other ports, and returns at once; the task's completion
// callback (the hook asyncio.gather uses) settles `finished`: resolved when the coroutine returned,
// rejected with its exception. A BaseException (SystemExit) escapes the scheduler into a JS timer:
// it arrives as an uncaught exception. (Importing asyncio and setting run() here, before the
// script, puts a few bridge objects on the heap: in every figure of this port, the empty script's too.)
const asyncio = mp.pyimport("asyncio");
let finished = null;
asyncio.run = (coro) => {
  finished = new Promise((resolve, reject) => {
    process.on("uncaughtException", reject);
    const task = asyncio.create_task(coro);
    task.state = (t, er) => {
      const builtins = mp.pyimport("builtins");
      if (builtins.isinstance(er, builtins.StopIteration)) {
        resolve();
      } else {
        mp.pyimport("sys").print_exception(er); // to stdout, which bench.firmware shows on failure
        reject(new Error("the script's main() raised"));
      }
    };
  });
};

try {
  mp.runPython(fs.readFileSync(scriptPath, "utf8"));
  if (finished !== null) {
    await finished; // else the script did not call asyncio.run(): it is done
  }
} catch (error) {
  process.stderr.write(`${error.name === "PythonError" ? error.message : error.stack}\n`);
  process.exit(1);
}
// Done: the script cancelled the box's tasks, but a scheduler timer may remain.
process.exit(0);
