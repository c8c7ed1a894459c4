// Headless Chromium (Debian's package) through puppeteer-core, the way the browser tests
// start it, and the page problems they collect.
import {mkdtempSync, rmSync} from "node:fs";
import {tmpdir} from "node:os";
import {join} from "node:path";

import puppeteer from "puppeteer-core";

export const CHROMIUM = process.env.BEAKER_CHROMIUM || "/usr/bin/chromium";

// No update checks, sync, metrics or other calls home: the machines have no internet,
// and a test must only see the traffic it causes.
const QUIET = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-extensions",
    "--disable-sync",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--no-first-run",
    "--no-pings",
    "--password-store=basic",
    "--use-mock-keychain",
    // /dev/shm is small in containers and some VMs
    "--disable-dev-shm-usage",
];

/** Start Chromium with a fresh profile; `close()` stops it and removes the profile. */
export async function launch() {
    const profile = mkdtempSync(join(tmpdir(), "beaker-chromium-"));
    const args = [...QUIET, `--user-data-dir=${profile}`, "--window-size=1280,900"];
    if (typeof process.getuid === "function" && process.getuid() === 0) {
        // Chromium's sandbox refuses to run as root.
        args.push("--no-sandbox");
    }
    const browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args,
        defaultViewport: {width: 1280, height: 900},
    });
    return {
        browser,
        async close() {
            try {
                await browser.close();
            } finally {
                rmSync(profile, {recursive: true, force: true});
            }
        },
    };
}

/** Record what goes wrong on `page`: uncaught errors, console errors, failed and refused requests. */
export function collectProblems(page) {
    const problems = {pageErrors: [], consoleErrors: [], consoleWarnings: [], requestFailures: [], httpErrors: []};
    page.on("pageerror", (error) => {
        problems.pageErrors.push({message: String(error && error.message ? error.message : error)});
    });
    page.on("console", (message) => {
        const entry = {text: message.text(), location: message.location()};
        if (message.type() === "error") {
            problems.consoleErrors.push(entry);
        } else if (message.type() === "warn") {
            problems.consoleWarnings.push(entry);
        }
    });
    page.on("requestfailed", (request) => {
        // A request whose response arrived but whose body the page never read (a 204 of
        // an interrupt, say) ends as "aborted": keep the status to tell it from a failure.
        const response = request.response();
        problems.requestFailures.push({
            url: request.url(),
            method: request.method(),
            error: request.failure() ? request.failure().errorText : "unknown",
            status: response ? response.status() : null,
        });
    });
    page.on("response", (response) => {
        if (response.status() >= 400) {
            problems.httpErrors.push({url: response.url(), method: response.request().method(), status: response.status()});
        }
    });
    return problems;
}
