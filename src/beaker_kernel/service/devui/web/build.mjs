// Build the development interface: one minified script (beaker-ts and the page, bundled
// by esbuild), one stylesheet, and index.html naming both by their content hash (so the
// service can let browsers cache them for good).
//
//   node build.mjs --outdir DIR --node-modules DIR
//
// Run by hatch_build.py (the wheel's build hook), which installs the pinned packages of
// package-lock.json with `npm ci` into the --node-modules folder first. Prints a JSON
// summary (file names and sizes) on stdout.
import {createHash} from "node:crypto";
import {mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync} from "node:fs";
import {createRequire} from "node:module";
import {basename, dirname, join, resolve} from "node:path";
import {fileURLToPath} from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

function option(name) {
    const at = process.argv.indexOf(name);
    if (at < 0 || at + 1 >= process.argv.length) {
        console.error(`usage: node build.mjs --outdir DIR --node-modules DIR (missing ${name})`);
        process.exit(2);
    }
    return resolve(process.argv[at + 1]);
}

const outdir = option("--outdir");
const nodeModules = option("--node-modules");
const esbuild = createRequire(join(nodeModules, "package.json"))("esbuild");

function hashed(name, extension, contents) {
    const digest = createHash("sha256").update(contents).digest("hex").slice(0, 12);
    return `${name}-${digest}.${extension}`;
}

const script = await esbuild.build({
    entryPoints: [join(here, "src", "main.js")],
    bundle: true,
    minify: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: ["es2022"],
    nodePaths: [nodeModules],
    // JupyterLab's UI packages (pulled in by beaker-ts) import SVG icons and CSS.
    loader: {".svg": "text", ".css": "empty"},
    define: {"process.env.NODE_ENV": '"production"'},
    legalComments: "linked",
    logLevel: "warning",
    outfile: join(outdir, "devui.js"),
});
const style = await esbuild.transform(readFileSync(join(here, "src", "devui.css"), "utf8"), {
    loader: "css",
    minify: true,
});

mkdirSync(outdir, {recursive: true});
for (const old of readdirSync(outdir)) {
    rmSync(join(outdir, old), {recursive: true, force: true});
}
const files = {};
for (const output of script.outputFiles) {
    // the licences of the bundled packages go next to the script, named as its last line says
    const extension = output.path.endsWith(".LEGAL.txt") ? "LEGAL.txt" : "js";
    const name = extension === "js" ? hashed("devui", "js", output.contents) : basename(output.path);
    writeFileSync(join(outdir, name), output.contents);
    files[extension] = name;
}
const styleName = hashed("devui", "css", style.code);
writeFileSync(join(outdir, styleName), style.code);
const page = readFileSync(join(here, "index.html"), "utf8")
    .replace("{{script}}", files.js)
    .replace("{{style}}", styleName);
writeFileSync(join(outdir, "index.html"), page);

const sizes = Object.fromEntries(
    readdirSync(outdir).map((name) => [name, readFileSync(join(outdir, name)).length]),
);
process.stdout.write(JSON.stringify({outdir, files: sizes}) + "\n");
