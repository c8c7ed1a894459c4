// Views of beaker-ts's notebook cells. beaker-ts changes its cell objects in place as
// messages arrive (outputs, events, children, status); each view compares a small
// signature of its cell on every frame the app schedules and redraws what changed.
import {errorOutput, h, joined, markdown, outputs} from "./render.js";

function autosize(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = `${Math.max(textarea.scrollHeight, 24)}px`;
}

/** [data, copy of data] of every display_data and execute_result output, children's too. */
function richOutputs(cells, found = []) {
    for (const cell of cells) {
        for (const output of cell.outputs || []) {
            if (output.data && typeof output.data === "object") {
                found.push([output.data, {...output.data}]);
            }
        }
        richOutputs(cell.children || [], found);
    }
    return found;
}

class CellView {
    constructor(app, cell, {child = false} = {}) {
        this.app = app;
        this.cell = cell;
        this.child = child;
        this.signature = null;
        this.el = h("div", {
            class: `cell ${cell.cell_type}${child ? " child" : ""}`,
            "data-cell-id": cell.id,
            "data-cell-type": cell.cell_type,
        });
    }

    editor(placeholder) {
        const textarea = h("textarea", {
            class: "editor",
            spellcheck: "false",
            rows: 1,
            placeholder,
            value: joined(this.cell.source),
            oninput: () => {
                this.cell.source = textarea.value;
                autosize(textarea);
            },
            onkeydown: (event) => {
                if (event.key === "Enter" && event.shiftKey) {
                    event.preventDefault();
                    this.run();
                }
            },
        });
        requestAnimationFrame(() => autosize(textarea));
        this.textarea = textarea;
        return textarea;
    }

    tools(...extra) {
        const buttons = [...extra];
        if (!this.child) {
            buttons.push(
                h("button", {class: "icon delete", title: "Delete this cell", onclick: () => this.app.removeCell(this.cell)}, "✕"),
            );
        }
        return h("div", {class: "cell-tools"}, buttons);
    }

    focus() {
        if (this.textarea) {
            this.textarea.focus();
        }
    }

    /** Redraw when the cell changed since the last frame. */
    update() {
        const signature = this.sign();
        if (signature !== this.signature) {
            this.signature = signature;
            this.refresh();
        }
    }

    sign() {
        return "";
    }

    refresh() {}

    run() {}
}

export class CodeCellView extends CellView {
    constructor(app, cell, options) {
        super(app, cell, options);
        this.pendingInput = null;
        this.gutter = h("div", {class: "gutter"});
        this.outputArea = h("div", {class: "outputs"});
        this.inputArea = h("div", {class: "stdin"});
        this.el.append(
            this.gutter,
            h(
                "div",
                {class: "cell-body"},
                h("div", {class: "cell-head"}, h("span", {class: "cell-label"}, this.child ? "agent code" : "code"),
                    this.tools(h("button", {class: "run", title: "Run (Shift+Enter)", onclick: () => this.run()}, "▶ Run"))),
                this.editor("Code (Shift+Enter runs it)"),
                this.outputArea,
                this.inputArea,
            ),
        );
    }

    run() {
        const future = this.cell.execute(this.app.session);
        if (!future) {
            return;
        }
        // beaker-ts leaves stdin to the front end: input() in a cell asks here.
        future.onStdin = (msg) => {
            if (msg.header.msg_type === "input_request") {
                this.pendingInput = msg;
                this.app.schedule();
            }
        };
        future.done
            .catch((error) => this.app.say(`The cell did not finish: ${error.message || error}`, "error"))
            .finally(() => {
                this.pendingInput = null;
                this.app.schedule();
            });
        this.app.schedule();
    }

    sign() {
        const cell = this.cell;
        const last = cell.last_execution || {};
        return [cell.busy, cell.execution_count, last.status, cell.outputs.length, this.pendingInput && this.pendingInput.header.msg_id].join("|");
    }

    refresh() {
        const cell = this.cell;
        const last = cell.last_execution || {};
        const running = cell.busy || last.status === "pending";
        this.gutter.textContent = running ? "[*]" : `[${cell.execution_count ?? " "}]`;
        this.el.dataset.status = running ? "running" : last.status || "none";
        this.outputArea.replaceChildren(...outputs(cell.outputs));
        this.inputArea.replaceChildren();
        if (this.pendingInput) {
            const request = this.pendingInput;
            const field = h("input", {class: "stdin-value", type: request.content.password ? "password" : "text"});
            const send = () => {
                this.app.session.kernel.sendInputReply({value: field.value, status: "ok"}, request.header);
                this.pendingInput = null;
                this.app.schedule();
            };
            field.addEventListener("keydown", (event) => event.key === "Enter" && send());
            this.inputArea.append(
                h("label", {}, h("span", {class: "prompt"}, request.content.prompt || "Input:"), field),
                h("button", {class: "stdin-send", onclick: send}, "Send"),
            );
            requestAnimationFrame(() => field.focus());
        }
    }
}

export class MarkdownCellView extends CellView {
    constructor(app, cell, options) {
        super(app, cell, options);
        this.editing = joined(cell.source).trim() === "";
        this.rendered = h("div", {class: "rendered", title: "Double-click to edit", ondblclick: () => this.edit()});
        this.el.append(
            h("div", {class: "gutter"}),
            h(
                "div",
                {class: "cell-body"},
                h("div", {class: "cell-head"}, h("span", {class: "cell-label"}, "markdown"),
                    this.tools(h("button", {class: "run", title: "Show (Shift+Enter)", onclick: () => this.run()}, "▶ Show"))),
                this.editor("Markdown (Shift+Enter shows it)"),
                this.rendered,
            ),
        );
    }

    edit() {
        this.editing = true;
        this.app.schedule();
        requestAnimationFrame(() => this.focus());
    }

    run() {
        this.editing = false;
        this.app.schedule();
    }

    sign() {
        return `${this.editing}|${joined(this.cell.source)}`;
    }

    refresh() {
        this.textarea.hidden = !this.editing;
        this.rendered.hidden = this.editing;
        if (!this.editing) {
            this.rendered.replaceChildren(markdown(this.cell.source));
        }
    }
}

export class QueryCellView extends CellView {
    constructor(app, cell, options) {
        super(app, cell, options);
        this.children = new Map();
        this.events = h("div", {class: "events"});
        this.answerArea = h("div", {class: "answer-box"});
        this.state = h("span", {class: "query-state"});
        this.el.append(
            h("div", {class: "gutter"}, "?"),
            h(
                "div",
                {class: "cell-body"},
                h("div", {class: "cell-head"}, h("span", {class: "cell-label"}, "ask the agent"), this.state,
                    this.tools(h("button", {class: "run", title: "Ask (Shift+Enter)", onclick: () => this.run()}, "▶ Ask"))),
                this.editor("A question or a task for the agent (Shift+Enter asks it)"),
                this.events,
                this.answerArea,
            ),
        );
    }

    run() {
        if (joined(this.cell.source).trim() === "") {
            return;
        }
        // beaker-ts 1.13.0 sends the agent a text-only copy of the notebook, but its copy
        // shares the outputs' data with the notebook and deletes images from both: keep them.
        const kept = richOutputs(this.app.session.notebook.cells);
        const future = this.cell.execute(this.app.session);
        for (const [data, copy] of kept) {
            Object.assign(data, copy);
        }
        if (future) {
            future.done
                .catch((error) => this.app.say(`The agent did not finish: ${error.message || error}`, "error"))
                .finally(() => this.app.schedule());
        }
        this.app.schedule();
    }

    childView(cell) {
        let view = this.children.get(cell.id);
        if (!view || view.cell !== cell) {
            view = new CodeCellView(this.app, cell, {child: true});
            this.children.set(cell.id, view);
        }
        return view;
    }

    sign() {
        const cell = this.cell;
        const last = cell.last_execution || {};
        return [cell.status, last.status, cell.events.length, cell.children.length].join("|");
    }

    update() {
        super.update();
        for (const view of this.children.values()) {
            view.update();
        }
    }

    refresh() {
        const cell = this.cell;
        const busy = cell.status === "busy";
        this.el.dataset.status = cell.status;
        this.state.textContent = cell.status === "awaiting_input" ? "waiting for your answer" : busy ? "working…" : "";
        const items = [];
        for (const event of cell.events) {
            if (event.type === "thought") {
                const content = event.content || {};
                items.push(
                    h("div", {class: "event thought"}, h("span", {class: "event-label"}, "thought"), content.thought,
                        content.tool_name ? h("span", {class: "tool"}, ` → ${content.tool_name}`) : null),
                );
            } else if (event.type === "code_cell") {
                const child = cell.children.find((c) => c.id === event.content.cell_id);
                if (child) {
                    items.push(this.childView(child).el);
                }
            } else if (event.type === "response") {
                items.push(h("div", {class: "event response"}, h("span", {class: "event-label"}, "answer"), markdown(event.content)));
            } else if (event.type === "user_question") {
                items.push(h("div", {class: "event question"}, h("span", {class: "event-label"}, "question"), event.content));
            } else if (event.type === "user_answer") {
                items.push(h("div", {class: "event user-answer"}, h("span", {class: "event-label"}, "you"), event.content));
            } else if (event.type === "error") {
                items.push(h("div", {class: "event error"}, errorOutput(event.content || {})));
            } else if (event.type === "abort") {
                items.push(h("div", {class: "event abort"}, String(event.content)));
            }
        }
        this.events.replaceChildren(...items);
        this.answerArea.replaceChildren();
        if (cell.status === "awaiting_input") {
            const field = h("input", {class: "answer-value", type: "text", placeholder: "Your answer"});
            const send = () => {
                cell.respond(field.value, this.app.session);
                this.app.schedule();
            };
            field.addEventListener("keydown", (event) => event.key === "Enter" && send());
            this.answerArea.append(field, h("button", {class: "answer-send", onclick: send}, "Answer"));
            requestAnimationFrame(() => field.focus());
        }
    }
}

export class RawCellView extends CellView {
    constructor(app, cell, options) {
        super(app, cell, options);
        this.el.append(
            h("div", {class: "gutter"}),
            h("div", {class: "cell-body"}, h("div", {class: "cell-head"}, h("span", {class: "cell-label"}, cell.cell_type), this.tools()),
                this.editor("Raw text")),
        );
    }
}

export function viewFor(app, cell) {
    if (cell.cell_type === "code") {
        return new CodeCellView(app, cell);
    }
    if (cell.cell_type === "markdown") {
        return new MarkdownCellView(app, cell);
    }
    if (cell.cell_type === "query") {
        return new QueryCellView(app, cell);
    }
    return new RawCellView(app, cell);
}
