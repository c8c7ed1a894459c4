// The side panels: the context (choose, set up, reset), the kernel state and the previews.
import {h, mimeBundle} from "./render.js";

const STATE_MIMETYPE = "x-application/beaker-subkernel-state";

export function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function pretty(json) {
    try {
        return JSON.stringify(typeof json === "string" ? JSON.parse(json) : json ?? {}, null, 2);
    } catch (error) {
        return String(json);
    }
}

export class ContextPanel {
    constructor(app) {
        this.app = app;
        this.available = {};
        this.active = null;
        this.contextSelect = document.getElementById("context-select");
        this.languageSelect = document.getElementById("language-select");
        this.payload = document.getElementById("context-payload");
        this.details = document.getElementById("context-details");
        this.label = document.getElementById("context-label");
        this.contextSelect.addEventListener("change", () => this.chooseContext(this.contextSelect.value));
        document.getElementById("context-apply").addEventListener("click", () => this.apply());
        document.getElementById("context-reset").addEventListener("click", () => this.reset());
    }

    async load() {
        this.available = await this.app.service.contexts();
        const slugs = Object.keys(this.available);
        this.contextSelect.replaceChildren(...slugs.map((slug) => h("option", {value: slug}, slug)));
        if (slugs.length) {
            this.chooseContext(slugs.includes("default") ? "default" : slugs[0]);
        }
    }

    chooseContext(slug, language, payload) {
        const entry = this.available[slug];
        this.contextSelect.value = slug;
        const languages = entry ? entry.languages : [];
        this.languageSelect.replaceChildren(
            ...languages.map((lang) => h("option", {value: lang.slug}, `${lang.slug} (${lang.subkernel})`)),
        );
        if (language) {
            const match = languages.find((lang) => lang.slug === language || lang.subkernel === language);
            if (match) {
                this.languageSelect.value = match.slug;
            }
        }
        this.payload.value = pretty(payload !== undefined && payload !== null ? payload : entry && entry.defaultPayload);
    }

    /** Ask the kernel which context is active (beaker-ts's activeContext) and show it. */
    async refresh() {
        try {
            const info = await withTimeout(this.app.session.activeContext(), 15000, "context_info_request");
            this.show(info);
        } catch (error) {
            this.show(null, error && error.message ? error.message : "the kernel did not say");
        }
    }

    show(info, problem) {
        this.active = info;
        if (!info || !info.slug) {
            this.label.textContent = "no context";
            this.details.replaceChildren(h("p", {class: "muted"}, `No active context${problem ? ` (${problem})` : ""}.`));
            return;
        }
        const language = info.language || {};
        const details = info.info || {};
        this.label.textContent = `${info.slug} · ${language.slug || "?"}`;
        this.chooseContext(info.slug, language.slug, info.config);
        const actions = Object.keys(details.actions || {});
        const tools = Object.keys((details.agent && details.agent.tools) || {});
        this.details.replaceChildren(
            h("dl", {},
                h("dt", {}, "context"), h("dd", {"data-test": "active-context"}, info.slug),
                h("dt", {}, "language"), h("dd", {"data-test": "active-language"}, `${language.slug} (${language.subkernel})`),
                h("dt", {}, "subkernel"), h("dd", {}, details.language || language.subkernel || ""),
                h("dt", {}, "actions"), h("dd", {}, actions.join(", ") || "none"),
                h("dt", {}, "agent tools"), h("dd", {}, tools.join(", ") || "none"),
            ),
        );
    }

    async apply() {
        let payload;
        try {
            payload = JSON.parse(this.payload.value || "{}");
        } catch (error) {
            this.app.say(`The payload is not JSON: ${error.message}`, "error");
            return;
        }
        const request = {context: this.contextSelect.value, language: this.languageSelect.value, context_info: payload};
        this.app.say(`Setting up ${request.context} in ${request.language}…`);
        try {
            const future = this.app.session.sendBeakerMessage("context_setup_request", request);
            const reply = await withTimeout(future.done, 180000, "context_setup_request");
            if (reply.content.status !== "ok") {
                this.app.say(`Context setup failed: ${reply.content.ename}: ${reply.content.evalue}`, "error");
                return;
            }
            this.app.say(`Context ${request.context} is set up in ${request.language}.`);
        } catch (error) {
            this.app.say(error.message || String(error), "error");
        }
        await this.refresh();
    }

    async reset() {
        this.app.say("Resetting the context…");
        try {
            const future = this.app.session.sendBeakerMessage("reset_request", {});
            const reply = await withTimeout(future.done, 180000, "reset_request");
            if (reply.content.status !== "ok") {
                this.app.say(`Reset failed: ${reply.content.ename}: ${reply.content.evalue}`, "error");
            } else {
                this.app.say("The context was set up again.");
            }
        } catch (error) {
            this.app.say(error.message || String(error), "error");
        }
        await this.refresh();
    }
}

/** The latest kernel_state_info: the subkernel's variables as the context reports them. */
export class StatePanel {
    constructor() {
        this.el = document.getElementById("state");
        this.clear();
    }

    clear() {
        this.el.replaceChildren(h("p", {class: "muted"}, "Nothing yet: the context reports the kernel's state after each cell."));
    }

    update(content) {
        const bundle = content && content[STATE_MIMETYPE] ? content[STATE_MIMETYPE] : null;
        const state = bundle ? bundle["application/json"] ?? bundle : content;
        const body = state && typeof state === "object" && state.variables && typeof state.variables === "object" ? state.variables : state;
        if (body && typeof body === "object" && !Array.isArray(body) && Object.keys(body).length) {
            const rows = Object.entries(body).map(([name, value]) => {
                const type = value && typeof value === "object" ? value.type : typeof value;
                const shown = value && typeof value === "object" ? value.repr ?? value.value ?? JSON.stringify(value) : String(value);
                return h("tr", {}, h("td", {class: "name"}, name), h("td", {class: "type"}, type || ""), h("td", {class: "value"}, String(shown)));
            });
            this.el.replaceChildren(h("table", {class: "state-table"}, h("tbody", {}, rows)));
        } else if (body && typeof body === "object" && !Array.isArray(body)) {
            this.el.replaceChildren(h("p", {class: "muted"}, "No variables."));
        } else {
            this.el.replaceChildren(h("pre", {class: "text json"}, JSON.stringify(state, null, 2)));
        }
    }
}

/** The latest preview: {item_type: {item_name: MIME bundle}}. */
export class PreviewPanel {
    constructor() {
        this.el = document.getElementById("preview");
        this.clear();
    }

    clear() {
        this.el.replaceChildren(h("p", {class: "muted"}, "Nothing yet: contexts with previews send them after each cell."));
    }

    update(content) {
        const items = [];
        for (const [type, entries] of Object.entries(content || {})) {
            for (const [name, bundle] of Object.entries(entries || {})) {
                items.push(h("div", {class: "preview-item"}, h("div", {class: "preview-title"}, `${type}: ${name}`), mimeBundle(bundle)));
            }
        }
        this.el.replaceChildren(...(items.length ? items : [h("p", {class: "muted"}, "An empty preview.")]));
    }
}
