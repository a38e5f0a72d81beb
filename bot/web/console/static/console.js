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
    source.onopen = () => { if (status) status.hidden = true; if (page === "conversation") refreshConversation(); };
    source.onerror = () => { if (status) status.hidden = false; };
    source.onmessage = (e) => {
      const event = JSON.parse(e.data);
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
    confirmForms();
    copyButtons();
    shortcuts();
    countdowns();
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
    const badge = document.getElementById("unread-alerts");
    const waiting = document.querySelectorAll("#queue tr.row").length;
    const count = (badge ? parseInt(badge.textContent, 10) : 0) + waiting;
    if (count) document.title = "(" + count + ") " + document.title.replace(/^\(\d+\) /, "");
  }
})();
