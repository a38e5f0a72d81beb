// Live updates for the console. The event stream only says which conversation changed; the page
// then fetches what it may see. Customer text is always inserted as text, never as HTML.
(function () {
  "use strict";
  const body = document.body;
  const csrf = body.dataset.csrf;
  const page = body.dataset.page;
  if (page === "login") return;

  function lastId() {
    const items = document.querySelectorAll("#transcript > li[data-id]");
    return items.length ? Number(items[items.length - 1].dataset.id) : 0;
  }

  function line(m) {
    const li = document.createElement("li");
    li.className = "msg " + m.from;
    li.dataset.id = String(m.id);
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = m.who + " · " + m.time;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text;
    li.append(meta, text);
    if (m.buttons.length) {
      const b = document.createElement("span");
      b.className = "buttons";
      b.textContent = "[" + m.buttons.join(" | ") + "]";
      li.append(b);
    }
    if (m.attachments.length) {
      const f = document.createElement("span");
      f.className = "files";
      f.textContent = "📎 " + m.attachments.join(", ");
      li.append(f);
    }
    return li;
  }

  let fetching = false;
  let again = false;
  async function refreshConversation() {
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      const id = body.dataset.conversation;
      const r = await fetch("/console/conversations/" + id + "/messages?after=" + lastId(), {headers: {"Accept": "application/json"}});
      if (r.ok) {
        const data = await r.json();
        const list = document.getElementById("transcript");
        const known = new Set(Array.from(list.children).map((li) => li.dataset.id));
        for (const m of data.messages) {
          if (!known.has(String(m.id))) list.append(line(m));
        }
        if (data.messages.length) list.lastElementChild.scrollIntoView({block: "end"});
        const holder = document.getElementById("holder");
        const held = data.held_by || "";
        if (holder && holder.dataset.held !== held) location.reload();  // taken, transferred or handed back
      }
    } finally {
      fetching = false;
      if (again) { again = false; refreshConversation(); }
    }
  }

  let listTimer = null;
  function refreshLists() {
    if (listTimer) return;
    listTimer = setTimeout(async () => {
      listTimer = null;
      const r = await fetch("/console/lists", {headers: {"Accept": "text/html"}});
      const target = document.getElementById("lists");
      if (r.ok && target) { target.innerHTML = await r.text(); unreadTitle(); }  // our own server-rendered, escaped HTML
    }, 500);
  }

  function connect() {
    const status = document.getElementById("live-status");
    const source = new EventSource("/console/events");
    source.onopen = () => { if (status) status.hidden = true; alerts.soon(); if (page === "conversation") refreshConversation(); };
    source.onerror = () => { if (status) status.hidden = false; };
    source.onmessage = (e) => {
      const event = JSON.parse(e.data);
      if (event.type === "alerts") { alerts.soon(); return; }
      if (event.type !== "activity") return;
      if (page === "home") refreshLists();
      if (page === "conversation" && String(event.id) === body.dataset.conversation) refreshConversation();
    };
  }

  async function send(form, after) {
    const data = new FormData(form);
    const r = await fetch(form.action, {
      method: "POST", body: data, headers: {"X-Requested-With": "fetch", "X-CSRF-Token": csrf},
    });
    const result = await r.json().catch(() => ({ok: false, error: "HTTP " + r.status}));
    let err = form.querySelector(".error");
    if (!result.ok) {
      if (!err) { err = document.createElement("p"); err.className = "error"; err.setAttribute("role", "alert"); form.prepend(err); }
      err.textContent = result.error || body.dataset.failed || "";
      return;
    }
    if (err) err.remove();
    after();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const reply = document.getElementById("reply-form");
    if (reply) reply.addEventListener("submit", (e) => {
      e.preventDefault();
      send(reply, () => { reply.reset(); refreshConversation(); });
    });
    const note = document.getElementById("note-form");
    if (note) note.addEventListener("submit", (e) => {
      e.preventDefault();
      send(note, () => { note.reset(); refreshConversation(); });
    });
    const insert = document.getElementById("canned-insert");
    if (insert) insert.addEventListener("click", () => {
      const text = document.getElementById("reply-text");
      const chosen = document.getElementById("canned").value;
      text.value = text.value ? text.value + "\n" + chosen : chosen;
      text.focus();
    });
    confirmMoves();
    categoryLevels();
    confirmForms();
    copyButtons();
    shortcuts();
    countdowns();
    alerts.start();
    unreadTitle();
    connect();
    body.dataset.ready = "true";  // the page's keys and forms answer from now on (tests wait for it)
  });

  // A move that cannot be undone (cancel, close, deactivating a person) asks first; the option
  // or the button carries the question.
  function confirmMoves() {
    document.querySelectorAll("form button.danger[data-confirm]").forEach((button) => {
      button.form.addEventListener("submit", (e) => {
        if (!window.confirm(button.dataset.confirm)) e.preventDefault();
      });
    });
    const move = document.getElementById("move");
    if (move) move.addEventListener("submit", (e) => {
      const chosen = move.querySelector("select[name=status]").selectedOptions[0];
      const question = chosen && chosen.dataset.confirm;
      if (question && !window.confirm(question)) e.preventDefault();
    });
    const bulk = document.getElementById("bulk-form");
    if (bulk) {
      const all = document.getElementById("select-all");
      if (all) all.addEventListener("change", () => {
        bulk.querySelectorAll("input[name=number]").forEach((box) => { box.checked = all.checked; });
      });
      bulk.addEventListener("submit", (e) => {
        const status = bulk.querySelector("input[name=action][value=status]");
        const target = bulk.querySelector("select[name=status]");
        if (status && status.checked && target && ["cancelled", "closed"].includes(target.value)) {
          const question = document.getElementById("bulk-apply").dataset.confirm.replace("…", target.selectedOptions[0].textContent);
          if (!window.confirm(question)) e.preventDefault();
        }
      });
    }
  }

  // A form that cannot be undone (revoke a token, remove a receiver) asks first: data-confirm.
  function confirmForms() {
    document.querySelectorAll("form[data-confirm]").forEach((form) => form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    }));
  }

  // A secret shown once: Copy puts it on the clipboard, or selects it where the page may not
  // write the clipboard (plain http), so Ctrl+C copies it.
  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach((button) => button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      field.focus();
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        button.textContent = button.dataset.copied;
      } catch (e) {
        if (document.execCommand("copy")) button.textContent = button.dataset.copied;
      }
    }));
  }

  // The category levels: each select offers the finer choices of the one above, from the intake
  // flow's tree the form carries (names as text, never HTML). Without a script, saving a level
  // does the same on the reloaded page.
  function categoryLevels() {
    const form = document.getElementById("classify");
    if (!form || !form.dataset.tree) return;
    const tree = JSON.parse(form.dataset.tree);
    const selects = Array.from(form.querySelectorAll("select.category-level"));
    const under = (depth) => {
      let node = tree;
      for (let i = 0; i < depth; i++) {
        const entry = node[selects[i].value];
        node = entry ? entry[1] : {};
      }
      return node;
    };
    const redraw = (from) => {
      for (let i = from; i < selects.length; i++) {
        const select = selects[i], keep = select.value, choices = under(i), codes = Object.keys(choices);
        select.replaceChildren(new Option(codes.length ? form.dataset.choose : form.dataset.none, ""));
        for (const code of codes) select.append(new Option(choices[code][0], code, false, code === keep));
        if (!codes.includes(keep)) select.value = "";
      }
    };
    selects.forEach((select, i) => select.addEventListener("change", () => redraw(i + 1)));
  }

  // J next waiting customer, R reply, N note, T take, B hand back; never while typing.
  function shortcuts() {
    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const tag = (e.target.tagName || "").toLowerCase();
      if (["input", "textarea", "select"].includes(tag) || e.target.isContentEditable) return;
      const key = e.key.toLowerCase();
      const click = (id) => { const el = document.getElementById(id); if (el) { e.preventDefault(); el.click(); } };
      const focus = (id) => { const el = document.getElementById(id); if (el) { e.preventDefault(); el.focus(); } };
      if (key === "j") {
        const next = document.querySelector("#queue a.open");
        if (next) { e.preventDefault(); location.href = next.href; } else if (page !== "home") { location.href = "/console"; }
      } else if (key === "r") focus("reply-text");
      else if (key === "n") focus("note-text");
      else if (key === "t") click("take");
      else if (key === "b") click("handback");
    });
  }

  // Deadline countdowns stay true while the list is open (the server wrote the first value).
  function countdowns() {
    const cells = document.querySelectorAll(".countdown[data-due]");
    if (!cells.length) return;
    const left = body.dataset.timeLeft, late = body.dataset.timeLate;
    const units = (body.dataset.units || "d |h |min").split("|");
    setInterval(() => {
      const now = Date.now();
      cells.forEach((cell) => {
        const seconds = Math.round((Date.parse(cell.dataset.due) - now) / 1000);
        const minutes = Math.floor(Math.abs(seconds) / 60);
        const days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
        let span = (days ? days + units[0] : "") + (hours ? hours + units[1] : "") + (days ? "" : mins + units[2]);
        span = span.trim();
        cell.textContent = (seconds < 0 ? late : left).replace("{time}", span);
        cell.parentElement.classList.toggle("overdue", seconds < 0);
      });
    }, 30000);
  }

  // The tab title carries the unread count (alerts, customers waiting) so it shows in a tab bar.
  function unreadTitle() {
    const waiting = document.querySelectorAll("#queue tr.row").length;
    const count = (alerts.shown ? alerts.unread : 0) + waiting;
    const bare = document.title.replace(/^\(\d+\) /, "");
    document.title = count ? "(" + count + ") " + bare : bare;
  }

  // Unread alerts: the badge by "Notifications" in the menu bar, the tab title, and a short sound
  // when a new one arrives (if the person keeps it on). The count is asked for when the live
  // stream says alerts came, on reconnecting, and every half minute (alerts a scheduler process
  // writes reach the stream only through the process that fans them out).
  const alerts = {
    unread: 0,
    shown: body.dataset.alerts === "1",
    timer: null,
    audio: null,
    start() {
      if (!this.shown) return;
      this.unread = parseInt((document.getElementById("unread-alerts") || {}).textContent, 10) || 0;
      // browsers allow sound only after the person has used the page: unlock on the first gesture
      const unlock = () => {
        if (body.dataset.sound !== "1" || !(window.AudioContext || window.webkitAudioContext)) return;
        try {
          this.audio = this.audio || new (window.AudioContext || window.webkitAudioContext)();
          if (this.audio.state === "suspended") this.audio.resume().catch(() => {});
        } catch (e) { this.audio = null; }
      };
      ["pointerdown", "keydown"].forEach((name) => document.addEventListener(name, unlock, {passive: true}));
      this.refresh();
      setInterval(() => this.refresh(), 30000);
      document.addEventListener("visibilitychange", () => { if (!document.hidden) this.soon(); });
    },
    soon() {
      if (!this.shown || this.timer) return;
      this.timer = setTimeout(() => { this.timer = null; this.refresh(); }, 300);
    },
    async refresh() {
      let data;
      try {
        const r = await fetch("/console/notifications/count", {headers: {"Accept": "application/json"}});
        if (!r.ok) return;
        data = await r.json();
      } catch (e) { return; }
      this.unread = data.unread;
      const badge = document.getElementById("notify-badge");
      const link = document.getElementById("nav-notifications");
      if (badge) { badge.textContent = data.unread > 99 ? "99+" : String(data.unread); badge.hidden = !data.unread; }
      if (link) {
        const label = data.unread ? body.dataset.unreadLabel.replace("{count}", data.unread) : body.dataset.noneLabel;
        link.title = label;
        link.setAttribute("aria-label", link.textContent.replace(/\d+\+?$/, "").trim() + ": " + label);
      }
      unreadTitle();
      // the newest alert heard of, shared by the person's tabs, so each alert sounds once
      const key = "tousu.alerts.latest";
      const known = parseInt(localStorage.getItem(key) || "", 10);
      if (!Number.isNaN(known) && data.latest > known && body.dataset.sound === "1") this.beep();
      if (Number.isNaN(known) || data.latest > known) localStorage.setItem(key, String(data.latest));
    },
    beep() {
      const badge = document.getElementById("notify-badge");
      if (badge) { badge.classList.remove("fresh"); void badge.offsetWidth; badge.classList.add("fresh"); }
      const ctx = this.audio;
      if (!ctx || ctx.state !== "running") return;  // no gesture yet: the badge flashes instead
      const tone = ctx.createOscillator(), gain = ctx.createGain();
      tone.type = "sine";
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.25);
      tone.connect(gain).connect(ctx.destination);
      tone.start();
      tone.stop(ctx.currentTime + 0.3);
      body.dataset.beeps = String((parseInt(body.dataset.beeps || "0", 10) || 0) + 1);
    },
  };
})();
