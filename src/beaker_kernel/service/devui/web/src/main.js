// The development interface of the Beaker service: a notebook on beaker-ts's
// BeakerSession, the same client library Terarium and the Beaker UI use.
import {BeakerSession} from "beaker-kernel/src/session";

import {viewFor} from "./cells.js";
import {ContextPanel, PreviewPanel, StatePanel, withTimeout} from "./panels.js";
import {h} from "./render.js";
import {Service, forgetToken, initialToken, keepToken, serviceBase, sessionPath} from "./service.js";

class App {
    constructor() {
        this.base = serviceBase();
        this.views = new Map();
        this.scheduled = false;
        this.notebook = document.getElementById("notebook");
        this.status = document.getElementById("kernel-status");
        this.message = document.getElementById("message");
        this.path = document.getElementById("notebook-path");
    }

    async start() {
        document.getElementById("login-form").addEventListener("submit", (event) => {
            event.preventDefault();
            this.connect(document.getElementById("token").value.trim());
        });
        const token = initialToken();
        if (token) {
            await this.connect(token);
        } else {
            this.showLogin();
        }
    }

    showLogin(problem) {
        document.getElementById("app").hidden = true;
        document.getElementById("login").hidden = false;
        document.getElementById("login-error").textContent = problem || "";
        document.getElementById("token").focus();
    }

    async connect(token) {
        if (!token) {
            this.showLogin("Enter the service's token.");
            return;
        }
        const service = new Service(this.base, token);
        try {
            await service.check();
        } catch (error) {
            forgetToken();
            const refused = error.status === 401 || error.status === 403;
            this.showLogin(refused ? "The service refused this token." : error.message);
            return;
        }
        keepToken(token);
        this.service = service;
        document.getElementById("login").hidden = true;
        document.getElementById("app").hidden = false;
        this.contexts = new ContextPanel(this);
        this.state = new StatePanel();
        this.preview = new PreviewPanel();
        this.bindToolbar();
        this.setStatus("connecting");
        this.session = new BeakerSession({
            settings: {baseUrl: this.base, wsUrl: this.base.replace(/^http/, "ws"), token, appendToken: true},
            name: "Beaker development interface",
            kernelName: "beaker_kernel",
            sessionId: sessionPath(),
        });
        window.beakerDevUI = this;
        try {
            await this.contexts.load();
        } catch (error) {
            this.say(`Could not list the contexts: ${error.message}`, "error");
        }
        try {
            await withTimeout(this.session.sessionReady, 120000, "starting the Beaker kernel");
        } catch (error) {
            this.say(error.message || String(error), "error");
            return;
        }
        this.watch(this.session.kernel);
        this.session.session.kernelChanged.connect((_, change) => this.watch(change.newValue));
        this.updateStatus();
        await this.whenIdle();
        await this.contexts.refresh();
        this.say("Connected.");
        document.body.dataset.ready = "true";
        this.schedule();
    }

    watch(kernel) {
        if (!kernel || kernel.__devui) {
            return;
        }
        kernel.__devui = true;
        kernel.statusChanged.connect(() => this.updateStatus());
        kernel.connectionStatusChanged.connect(() => this.updateStatus());
        // Every message may change a cell (stdin ones too: an input_request asks a question).
        kernel.anyMessage.connect((_, {msg, direction}) => {
            if (direction === "recv" && msg.channel === "iopub") {
                const type = msg.header.msg_type;
                if (type === "kernel_state_info") {
                    this.state.update(msg.content);
                } else if (type === "preview") {
                    this.preview.update(msg.content);
                }
            }
            this.schedule();
        });
    }

    async whenIdle(ms = 120000) {
        const deadline = performance.now() + ms;
        while (!(this.session.kernel && this.session.kernel.connectionStatus === "connected" && this.session.kernel.status === "idle")) {
            if (performance.now() > deadline) {
                throw new Error("The kernel did not become idle");
            }
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
    }

    updateStatus() {
        this.setStatus(this.session ? this.session.status : "disconnected");
        this.schedule();
    }

    setStatus(status) {
        this.status.textContent = status;
        this.status.dataset.status = status;
    }

    say(text, kind = "info") {
        this.message.textContent = text;
        this.message.dataset.kind = kind;
        if (kind === "error") {
            console.warn(text);
        }
    }

    bindToolbar() {
        if (this.bound) {
            return;
        }
        this.bound = true;
        const on = (id, handler) => document.getElementById(id).addEventListener("click", handler);
        on("add-code", () => this.add(this.session.addCodeCell("")));
        on("add-markdown", () => this.add(this.session.addMarkdownCell("")));
        on("add-query", () => this.add(this.session.addQueryCell("")));
        on("interrupt", () => this.interrupt());
        on("restart", () => this.restart());
        on("save", () => this.save());
        on("open", () => this.openDialog());
        on("sign-out", () => this.signOut());
        document.getElementById("open-close").addEventListener("click", () => document.getElementById("open-dialog").close());
    }

    /** Shut this tab's kernel down and forget the token. */
    async signOut() {
        try {
            await withTimeout(this.session.session.shutdown(), 10000, "shutting the kernel down");
        } catch (error) {
            console.warn(`Signing out without shutting the kernel down: ${error.message || error}`);
        }
        forgetToken();
        window.location.reload();
    }

    add(cell) {
        this.render();
        const view = this.views.get(cell.id);
        if (view) {
            view.focus();
            view.el.scrollIntoView({block: "nearest"});
        }
    }

    removeCell(cell) {
        const index = this.session.notebook.cells.indexOf(cell);
        if (index >= 0) {
            this.session.notebook.removeCell(index);
        }
        this.schedule();
    }

    async interrupt() {
        try {
            await this.session.interrupt();
            this.say("Interrupted.");
        } catch (error) {
            this.say(`Interrupt failed: ${error.message || error}`, "error");
        }
    }

    async restart() {
        this.say("Restarting the kernel…");
        const kernel = this.session.kernel;
        const restarting = new Promise((resolve) => {
            const seen = (_, status) => {
                if (status === "restarting" || status === "autorestarting" || status === "starting") {
                    kernel.statusChanged.disconnect(seen);
                    resolve();
                }
            };
            kernel.statusChanged.connect(seen);
        });
        // beaker-ts's reset: clear the notebook and restart the kernel
        this.session.reset();
        this.state.clear();
        this.preview.clear();
        this.schedule();
        try {
            await withTimeout(restarting, 30000, "restarting the kernel");
            await this.whenIdle();
            await this.contexts.refresh();
            this.say("The kernel was restarted.");
        } catch (error) {
            this.say(error.message || String(error), "error");
        }
    }

    async save() {
        const path = this.path.value.trim();
        if (!path.endsWith(".ipynb")) {
            this.say("Notebook names end with .ipynb", "error");
            return;
        }
        try {
            await this.service.saveNotebook(path, this.session.notebook.toIPynb());
            this.say(`Saved ${path}.`);
        } catch (error) {
            this.say(`Could not save ${path}: ${error.message}`, "error");
        }
    }

    async openDialog(folder = "") {
        const dialog = document.getElementById("open-dialog");
        const list = document.getElementById("open-list");
        let items;
        try {
            items = await this.service.notebooks(folder);
        } catch (error) {
            this.say(`Could not list notebooks: ${error.message}`, "error");
            return;
        }
        items.sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === "directory" ? -1 : 1));
        const entries = items.map((item) =>
            h("li", {},
                h("button", {
                    class: `open-item ${item.type}`,
                    "data-path": item.path,
                    onclick: () => (item.type === "directory" ? this.openDialog(item.path) : this.open(item.path)),
                }, item.type === "directory" ? `${item.name}/` : item.name)),
        );
        if (folder) {
            const parent = folder.split("/").slice(0, -1).join("/");
            entries.unshift(h("li", {}, h("button", {class: "open-item directory", onclick: () => this.openDialog(parent)}, "../")));
        }
        list.replaceChildren(...(entries.length ? entries : [h("li", {class: "muted"}, "No notebooks here.")]));
        if (!dialog.open) {
            dialog.showModal();
        }
    }

    async open(path) {
        document.getElementById("open-dialog").close();
        try {
            const model = await this.service.readNotebook(path);
            this.session.loadNotebook(model.content);
            this.path.value = path;
            this.say(`Opened ${path}.`);
        } catch (error) {
            this.say(`Could not open ${path}: ${error.message}`, "error");
        }
        this.schedule();
    }

    schedule() {
        if (!this.scheduled) {
            this.scheduled = true;
            requestAnimationFrame(() => {
                this.scheduled = false;
                this.render();
            });
        }
    }

    /** Bring the views in line with beaker-ts's notebook (cells added, moved, removed, changed). */
    render() {
        if (!this.session) {
            return;
        }
        const cells = this.session.notebook.cells;
        const seen = new Set();
        let previous = null;
        for (const cell of cells) {
            let view = this.views.get(cell.id);
            if (!view || view.cell !== cell) {
                if (view) {
                    view.el.remove();
                }
                view = viewFor(this, cell);
                this.views.set(cell.id, view);
            }
            seen.add(cell.id);
            view.update();
            const expected = previous ? previous.nextSibling : this.notebook.firstChild;
            if (expected !== view.el) {
                this.notebook.insertBefore(view.el, expected);
            }
            previous = view.el;
        }
        for (const [id, view] of this.views) {
            if (!seen.has(id)) {
                view.el.remove();
                this.views.delete(id);
            }
        }
        document.getElementById("empty-notebook").hidden = cells.length > 0;
    }
}

new App().start().catch((error) => {
    console.error(error);
    const message = document.getElementById("message");
    message.textContent = `The page failed to start: ${error.message || error}`;
    message.dataset.kind = "error";
});
