// adcluster dashboard: reads GET api/dashboard/state with the tab's API key every few
// seconds and draws it. No dependencies; data goes into the page as text only.
"use strict";

(() => {
  const STORE = "adcluster.apiKey";
  const STATE_URL = "api/dashboard/state?limit=10";
  let timer = null;

  const $ = (id) => document.getElementById(id);

  // --- the key: from the URL fragment (never sent to the server) or the form ----------
  function keyFromFragment() {
    const match = /(?:^|&)key=([^&]+)/.exec(location.hash.slice(1));
    if (!match) return;
    sessionStorage.setItem(STORE, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }

  function signOut(message) {
    sessionStorage.removeItem(STORE);
    clearTimeout(timer);
    $("board").hidden = true;
    $("signout").hidden = true;
    $("tenant").hidden = true;
    $("signin").hidden = false;
    $("error").textContent = message || "";
    $("status").textContent = "";
  }

  // --- small DOM helpers (textContent only) --------------------------------------------
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function table(headers, rows, empty) {
    if (!rows.length) return el("p", empty, "muted");
    const t = el("table");
    const head = t.createTHead().insertRow();
    for (const h of headers) head.appendChild(el("th", h));
    const body = t.createTBody();
    for (const cells of rows) {
      const tr = body.insertRow();
      for (const cell of cells) {
        const td = tr.insertCell();
        if (cell instanceof Node) td.appendChild(cell);
        else td.textContent = cell === null || cell === undefined ? "–" : String(cell);
      }
    }
    return t;
  }

  function fill(id, ...nodes) {
    $(id).replaceChildren(...nodes);
  }

  function badge(status) {
    return el("span", status, "badge s-" + String(status).replace(/[^a-z_]/g, ""));
  }

  function pct(x) {
    return x === null || x === undefined ? "–" : (100 * x).toFixed(1) + " %";
  }

  function ago(iso) {
    if (!iso) return "–";
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    const text =
      s < 90 ? Math.round(s) + " s ago" : s < 5400 ? Math.round(s / 60) + " min ago"
        : s < 172800 ? Math.round(s / 3600) + " h ago" : Math.round(s / 86400) + " d ago";
    const span = el("span", text);
    span.title = iso;
    return span;
  }

  function value(v) {
    if (v === null || v === undefined) return "–";
    return typeof v === "object" ? JSON.stringify(v) : String(v);
  }

  function bar(share) {
    const outer = el("div", null, "bar");
    const inner = el("div", null, "fill");
    inner.style.width = Math.round(100 * (share || 0)) + "%"; // CSSOM: allowed by the CSP
    outer.appendChild(inner);
    return outer;
  }

  // --- sections ---------------------------------------------------------------------
  function tiles(s) {
    const q = s.queue.pending_jobs;
    $("t-queue").textContent = q.pending;
    $("t-queue-note").textContent = `${q.running} running · ${q.failed} failed`;
    $("t-winners").textContent = s.winners.total;
    const reasons = Object.entries(s.winners.by_reason).map(([k, n]) => `${k} ${n}`);
    $("t-winners-note").textContent = reasons.join(" · ") || "none yet";
    const c = s.changes.counts;
    $("t-changes").textContent = c.pending + c.claimed;
    $("t-changes-note").textContent =
      `${c.applied} applied · ${c.rejected} rejected · ${c.failed} failed`;
    const cycle = s.cycles[0];
    $("t-cycle").textContent = cycle ? cycle.status : "none";
    fill("t-cycle-note", cycle ? ago(cycle.started_at) : el("span", "not run yet"));
    const ctr = s.models.champions.find((m) => m.kind === "ctr");
    $("t-model").textContent = ctr ? ctr.version : "none";
    fill("t-model-note", ctr ? ago(ctr.promoted_at) : el("span", "no champion yet"));
  }

  function experiments(list) {
    if (!list.length) return fill("experiments", el("p", "No experiments yet.", "muted"));
    fill(
      "experiments",
      ...list.map((e) => {
        const card = el("article", null, "experiment");
        const title = el("h3", e.name || e.experiment_id);
        title.appendChild(el("span", ` ${e.experiment_id} · ${e.metric} · ${e.status}`, "muted"));
        card.appendChild(title);
        const a = e.allocation;
        const note = a
          ? `Latest allocation of ${value(a.total_budget)}, leader ${e.leader}`
          : `No allocation yet; highest posterior mean: ${e.leader || "–"}`;
        card.appendChild(el("p", note, "note"));
        const rows = e.arms.map((arm) => [
          arm.ad_id, bar(arm.share), pct(arm.share), pct(arm.prob_best),
          arm.mean.toFixed(4), `${arm.successes} / ${arm.trials}`,
        ]);
        card.appendChild(
          table(["ad", "allocation", "share", "P(best)", "mean", "successes / trials"], rows,
            "No arms."));
        if (e.arms_total > e.arms.length) {
          card.appendChild(el("p", `${e.arms_total - e.arms.length} more arms`, "muted"));
        }
        return card;
      }),
    );
  }

  function changes(c) {
    fill("change-counts",
      ...Object.entries(c.counts).map(([k, n]) => {
        const chip = el("span", null, "chip");
        chip.append(badge(k), el("span", ` ${n}`));
        return chip;
      }));
    fill("changes", table(
      ["#", "kind", "object", "status", "old → new", "reason", "requested"],
      c.recent.map((x) => [
        x.id, x.kind + (x.dry_run ? " (dry run)" : ""), x.object_id, badge(x.status),
        `${value(x.old_value)} → ${value(x.applied_value ?? x.new_value)}`,
        x.error || x.reason, ago(x.created_at),
      ]),
      "No changes yet."));
  }

  function cycles(list) {
    fill("cycles", table(
      ["started", "trigger", "status", "seconds", "loops"],
      list.map((c) => [
        ago(c.started_at), c.trigger, badge(c.status),
        c.duration_seconds === null ? "–" : c.duration_seconds.toFixed(2),
        c.steps.map((st) => `${st.name}: ${st.status}`).join(", ") || "–",
      ]),
      "No learning cycle yet."));
  }

  function models(m) {
    fill("champions",
      ...(m.champions.length ? m.champions.map((c) => {
        const chip = el("span", null, "chip");
        chip.append(el("strong", `${c.kind} `), el("span", c.version));
        const metrics = Object.entries(c.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`);
        if (metrics.length) chip.appendChild(el("span", ` (${metrics.join(", ")})`, "muted"));
        return chip;
      }) : [el("p", "No champion yet.", "muted")]));
    fill("decisions", table(
      ["when", "kind", "action", "challenger", "champion", "reason"],
      m.decisions.map((d) => [
        ago(d.created_at), d.kind, badge(d.action), d.challenger_version, d.champion_version,
        d.reason,
      ]),
      "No promotion decisions yet."));
    fill("versions", table(
      ["version", "kind", "status", "created", "promoted"],
      m.versions.map((v) => [v.version, v.kind, badge(v.status), ago(v.created_at),
        v.promoted_at ? ago(v.promoted_at) : "–"]),
      "No model versions yet."));
  }

  function winners(w) {
    fill("winners", table(
      ["ad", "reason", "CTR", "ROAS", "impressions", "hook", "indexed"],
      w.recent.map((x) => [
        x.ad_id, x.reason, pct(x.ctr), x.roas.toFixed(2), x.impressions.toLocaleString("en"),
        x.hook_text, ago(x.indexed_at),
      ]),
      "No winners yet."));
  }

  function render(s) {
    $("signin").hidden = true;
    $("board").hidden = false;
    $("signout").hidden = false;
    $("tenant").hidden = false;
    $("tenant").textContent = "tenant " + s.tenant_id;
    tiles(s);
    experiments(s.experiments);
    changes(s.changes);
    cycles(s.cycles);
    models(s.models);
    winners(s.winners);
    $("status").textContent = "updated " + new Date(s.generated_at).toLocaleTimeString();
  }

  // --- the loop ---------------------------------------------------------------------
  function later(seconds) {
    clearTimeout(timer);
    timer = setTimeout(refresh, Math.max(1, seconds) * 1000);
  }

  async function refresh() {
    const key = sessionStorage.getItem(STORE);
    if (!key) return signOut();
    let response;
    try {
      response = await fetch(STATE_URL, {
        headers: { Authorization: "Bearer " + key },
        cache: "no-store",
        credentials: "omit",
      });
    } catch (err) {
      $("status").textContent = "gateway unreachable; retrying";
      return later(5);
    }
    if (response.status === 401 || response.status === 403) {
      const body = await response.json().catch(() => ({}));
      return signOut("Key refused: " + (body.error || response.status));
    }
    if (response.status === 429) {
      $("status").textContent = "rate limited; waiting";
      return later(Number(response.headers.get("Retry-After")) || 5);
    }
    if (!response.ok) {
      $("status").textContent = `error ${response.status}; retrying`;
      return later(5);
    }
    const state = await response.json();
    render(state);
    later(state.refresh_s);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("keyform").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key").value.trim();
      $("key").value = "";
      if (!key) return;
      sessionStorage.setItem(STORE, key);
      $("error").textContent = "";
      refresh();
    });
    $("signout").addEventListener("click", () => signOut());
    keyFromFragment();
    refresh();
  });
})();
