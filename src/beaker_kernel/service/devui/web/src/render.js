// Rendering of cell outputs: MIME bundles, streams, errors with their ANSI colours, and
// Markdown. HTML from a kernel or a notebook is sanitised (no scripts, no handlers, no
// <style> that would restyle the page) before it reaches the document.
import DOMPurify from "dompurify";
import {marked} from "marked";

/** `h("div", {class: "x"}, child, "text")`: a small DOM builder. */
export function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
        if (value === undefined || value === null || value === false) {
            continue;
        }
        if (name.startsWith("on") && typeof value === "function") {
            element.addEventListener(name.slice(2), value);
        } else if (name === "value") {
            element.value = value;
        } else {
            element.setAttribute(name, value === true ? "" : String(value));
        }
    }
    for (const child of children.flat()) {
        if (child === undefined || child === null || child === false) {
            continue;
        }
        element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
}

export function joined(text) {
    return Array.isArray(text) ? text.join("") : String(text ?? "");
}

export function sanitize(html) {
    return DOMPurify.sanitize(html, {FORBID_TAGS: ["style"], ADD_ATTR: ["target"]});
}

export function markdown(source) {
    const element = h("div", {class: "markdown"});
    element.innerHTML = sanitize(marked.parse(joined(source), {async: false}));
    return element;
}

// ------------------------------------------------------------------ ANSI colours

const BASIC = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];

function color256(n) {
    if (n < 8) {
        return `var(--ansi-${BASIC[n]})`;
    }
    if (n < 16) {
        return `var(--ansi-bright-${BASIC[n - 8]})`;
    }
    if (n < 232) {
        const value = n - 16;
        const scale = [0, 95, 135, 175, 215, 255];
        return `rgb(${scale[Math.floor(value / 36)]}, ${scale[Math.floor(value / 6) % 6]}, ${scale[value % 6]})`;
    }
    const grey = 8 + (n - 232) * 10;
    return `rgb(${grey}, ${grey}, ${grey})`;
}

/** Text with ANSI SGR escapes (tracebacks, coloured logs) as a <pre> with coloured spans. */
export function ansi(text, className = "") {
    const pre = h("pre", {class: `text ${className}`.trim()});
    let style = {};
    const pattern = /\x1b\[([0-9;]*)m/g;
    let last = 0;
    const emit = (chunk) => {
        if (!chunk) {
            return;
        }
        if (!style.color && !style.bold && !style.background) {
            pre.append(chunk);
            return;
        }
        const span = h("span", {}, chunk);
        if (style.color) {
            span.style.color = style.color;
        }
        if (style.background) {
            span.style.backgroundColor = style.background;
        }
        if (style.bold) {
            span.style.fontWeight = "bold";
        }
        pre.append(span);
    };
    let match;
    while ((match = pattern.exec(text)) !== null) {
        emit(text.slice(last, match.index));
        last = pattern.lastIndex;
        const codes = match[1] === "" ? [0] : match[1].split(";").map(Number);
        for (let i = 0; i < codes.length; i++) {
            const code = codes[i];
            if (code === 0) {
                style = {};
            } else if (code === 1) {
                style = {...style, bold: true};
            } else if (code === 22) {
                style = {...style, bold: false};
            } else if (code >= 30 && code <= 37) {
                style = {...style, color: color256(code - 30)};
            } else if (code >= 90 && code <= 97) {
                style = {...style, color: color256(code - 90 + 8)};
            } else if (code === 39) {
                style = {...style, color: null};
            } else if (code >= 40 && code <= 47) {
                style = {...style, background: color256(code - 40)};
            } else if (code === 49) {
                style = {...style, background: null};
            } else if ((code === 38 || code === 48) && codes[i + 1] === 5) {
                const value = color256(codes[i + 2] || 0);
                style = code === 38 ? {...style, color: value} : {...style, background: value};
                i += 2;
            }
        }
    }
    emit(text.slice(last));
    return pre;
}

// ------------------------------------------------------------------ MIME bundles

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/** The richest representation of a MIME bundle this page can show. */
export function mimeBundle(data, metadata) {
    if (!data || typeof data !== "object") {
        return h("pre", {class: "text"}, JSON.stringify(data));
    }
    if (data["text/html"] !== undefined) {
        const element = h("div", {class: "html-output"});
        element.innerHTML = sanitize(joined(data["text/html"]));
        return element;
    }
    for (const type of IMAGE_TYPES) {
        if (data[type] !== undefined) {
            const size = (metadata && metadata[type]) || {};
            return h("img", {
                class: "image-output",
                src: `data:${type};base64,${joined(data[type]).replace(/\s/g, "")}`,
                width: size.width,
                height: size.height,
                alt: joined(data["text/plain"]) || type,
            });
        }
    }
    if (data["image/svg+xml"] !== undefined) {
        // As an image, an SVG runs no script.
        return h("img", {
            class: "image-output",
            src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(joined(data["image/svg+xml"]))}`,
            alt: "SVG",
        });
    }
    if (data["text/markdown"] !== undefined) {
        return markdown(data["text/markdown"]);
    }
    if (data["application/json"] !== undefined) {
        return h("pre", {class: "text json"}, JSON.stringify(data["application/json"], null, 2));
    }
    if (data["text/plain"] !== undefined) {
        return ansi(joined(data["text/plain"]));
    }
    if (data["text/latex"] !== undefined) {
        return h("pre", {class: "text"}, joined(data["text/latex"]));
    }
    const [type, value] = Object.entries(data)[0] || ["empty", ""];
    return h("pre", {class: "text"}, `${type}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
}

/** An error output (ename, evalue, traceback); beaker-ts puts aborts under `content`. */
export function errorOutput(output) {
    const details = output.content && output.ename === undefined ? output.content : output;
    const traceback = details.traceback || [];
    const element = h("div", {class: "error-output", "data-ename": details.ename});
    element.append(h("div", {class: "error-title"}, `${details.ename}: ${details.evalue}`));
    if (traceback.length) {
        element.append(ansi(traceback.join("\n"), "traceback"));
    }
    return element;
}

/** A cell's outputs, consecutive stream outputs of one stream joined. */
export function outputs(list) {
    const elements = [];
    let stream = null;
    for (const output of list || []) {
        if (output.output_type === "stream") {
            if (stream && stream.name === output.name) {
                stream.text += joined(output.text);
                continue;
            }
            stream = {name: output.name, text: joined(output.text)};
            elements.push(stream);
            continue;
        }
        stream = null;
        if (output.output_type === "error") {
            elements.push(errorOutput(output));
        } else if (output.output_type === "execute_result" || output.output_type === "display_data") {
            elements.push(h("div", {class: `output ${output.output_type}`}, mimeBundle(output.data, output.metadata)));
        } else {
            elements.push(h("pre", {class: "text"}, JSON.stringify(output)));
        }
    }
    return elements.map((item) =>
        item instanceof Node ? item : h("div", {class: `output stream ${item.name}`}, ansi(item.text)),
    );
}
