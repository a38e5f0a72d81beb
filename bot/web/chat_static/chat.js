"use strict";
(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("form");
  const input = document.getElementById("text");
  const status = document.getElementById("status");
  const lang = (navigator.language || "zh").toLowerCase().startsWith("en") ? "en" : "zh";
  let socket = null;
  let retry = 500;
  const unsent = [];

  function newId() {
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function disableOldButtons() {
    log.querySelectorAll(".buttons button").forEach((b) => { b.disabled = true; });
  }

  function show(item) {
    const li = document.createElement("li");
    li.className = "msg " + (item.from || "bot");
    li.textContent = item.text || "";  // always text, never HTML
    if (item.buttons && item.buttons.length) {
      disableOldButtons();
      const row = document.createElement("div");
      row.className = "buttons";
      item.buttons.forEach((b) => {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.label;
        btn.addEventListener("click", () => send(b.label, b.payload));
        row.appendChild(btn);
      });
      li.appendChild(row);
    }
    (item.files || []).forEach((f) => {
      const link = document.createElement("a");
      link.className = "file";
      link.href = f.url;
      link.textContent = "📎 " + f.name;
      link.setAttribute("download", f.name);
      li.appendChild(document.createElement("br"));
      li.appendChild(link);
    });
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function send(text, payload) {
    const msg = { id: newId(), text: text, payload: payload || null, lang: lang };
    show({ from: "customer", text: text });
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(msg));
    } else {
      unsent.push(msg);
    }
  }

  async function loadHistory() {
    try {
      const res = await fetch("/chat/history", { credentials: "same-origin" });
      const data = await res.json();
      log.textContent = "";
      data.messages.forEach(show);
    } catch (e) { /* the live socket still works */ }
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(proto + location.host + "/chat/ws");
    socket.onopen = async () => {
      status.textContent = "在线 online";
      status.className = "status ok";
      retry = 500;
      await loadHistory();
      while (unsent.length) socket.send(JSON.stringify(unsent.shift()));
      if (!log.children.length) socket.send(JSON.stringify({ id: newId(), text: "/start", payload: null, lang: lang }));
    };
    socket.onmessage = (ev) => {
      const item = JSON.parse(ev.data);
      if (item.error) { show({ from: "system", text: item.text || (item.error === "too_long" ? "消息过长 / message too long" : "无法识别的消息 / unreadable message") }); return; }
      show(item);
    };
    socket.onclose = () => {
      status.textContent = "重新连接中… reconnecting";
      status.className = "status";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text, null);
  });

  connect();
})();
