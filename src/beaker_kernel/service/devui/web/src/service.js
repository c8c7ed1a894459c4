// Where the service is, the token, and HTTP calls to the service's API.
//
// The token is read once from the URL fragment (#token=…) or typed into the page, and
// kept in this tab's sessionStorage: never in a cookie (the service accepts none), never
// in the address bar after loading.

const TOKEN_KEY = "beaker-dev-ui-token";
const SESSION_KEY = "beaker-dev-ui-session";

/** The service's base URL (ends with "/"), from this page's address (<base>dev/…). */
export function serviceBase() {
    const path = window.location.pathname;
    const at = path.lastIndexOf("/dev");
    const prefix = at >= 0 ? path.slice(0, at + 1) : "/";
    return `${window.location.origin}${prefix}`;
}

/** Take the token out of the URL fragment, if there is one; return the kept token. */
export function initialToken() {
    const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const fromUrl = fragment.get("token");
    if (fromUrl) {
        sessionStorage.setItem(TOKEN_KEY, fromUrl);
        // Keep the token out of the history and of anything that reads the address.
        window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY);
}

export function keepToken(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(SESSION_KEY);
}

/** The id of this tab's Jupyter session (a reload reconnects to the same kernel). */
export function sessionPath() {
    let id = sessionStorage.getItem(SESSION_KEY);
    if (!id) {
        id = `dev-ui-${crypto.randomUUID()}`;
        sessionStorage.setItem(SESSION_KEY, id);
    }
    return id;
}

export class ServiceError extends Error {
    constructor(message, status) {
        super(message);
        this.name = "ServiceError";
        this.status = status;
    }
}

/** The service's REST API with the token in the Authorization header. */
export class Service {
    constructor(base, token) {
        this.base = base;
        this.token = token;
    }

    async request(method, path, body) {
        const headers = {Authorization: `token ${this.token}`};
        const init = {method, headers, cache: "no-store"};
        if (body !== undefined) {
            headers["Content-Type"] = "application/json";
            init.body = JSON.stringify(body);
        }
        let response;
        try {
            response = await fetch(this.base + path, init);
        } catch (error) {
            throw new ServiceError(`The service at ${this.base} did not answer: ${error.message}`, 0);
        }
        const text = await response.text();
        let data = null;
        if (text) {
            try {
                data = JSON.parse(text);
            } catch (error) {
                data = text;
            }
        }
        if (!response.ok) {
            const reason = (data && (data.message || data.reason)) || response.statusText;
            throw new ServiceError(`${method} /${path}: ${response.status} ${reason}`, response.status);
        }
        return data;
    }

    /** Whether the token is accepted (throws a ServiceError saying why not). */
    async check() {
        return this.request("GET", "api/status");
    }

    contexts() {
        return this.request("GET", "contexts");
    }

    notebooks(folder = "") {
        return this.request("GET", `api/contents/${encodePath(folder)}?content=1`).then((model) =>
            (model.content || []).filter((item) => item.type === "notebook" || item.type === "directory"),
        );
    }

    readNotebook(path) {
        return this.request("GET", `api/contents/${encodePath(path)}?type=notebook&content=1`);
    }

    saveNotebook(path, content) {
        return this.request("PUT", `api/contents/${encodePath(path)}`, {type: "notebook", format: "json", content});
    }
}

export function encodePath(path) {
    return path
        .split("/")
        .filter((part) => part !== "")
        .map(encodeURIComponent)
        .join("/");
}
