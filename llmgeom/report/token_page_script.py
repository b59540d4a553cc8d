"""The script and style of a token page (:mod:`llmgeom.report.token_page`): plain JavaScript and
CSS, inlined into the page, no library and no network.

The script reads the page's data block (``<script type="application/json" id="token-data">``:
``n``, ``columns`` ``[{name, kind}]``, ``values`` ``{name: [one value per token]}``, ``views``
``[{label, sort, desc, filter, ids}]``, ``page_size``) and renders one page of rows at a time:
the rows of the chosen view (a filter: a column's true values or a list of ids; an order),
narrowed by the search box (a substring of the decoded string, any case, or the whole string;
a number also finds that id), sorted by a clicked column header (again: the other direction;
missing values last, ties by id). Values are put into the page as text
(``textContent``), never as HTML; strings are shown as JSON string literals, so spaces,
quotes and control characters are visible.

Example:
    >>> "textContent" in SCRIPT and "innerHTML" not in SCRIPT, "http" in SCRIPT + STYLE
    (True, False)
"""

from __future__ import annotations

STYLE = """
body { max-width: 1600px; }
#token-table td { white-space: nowrap; }
#token-controls { margin: 0.5em 0; display: flex; flex-wrap: wrap; gap: 0.4em;
                  align-items: center; }
#token-controls input[type=search] { width: 22em; padding: 2px 4px; }
#token-views button.active { background: #335; color: #fff; }
#token-table th { cursor: pointer; white-space: nowrap; user-select: none; }
#token-table th.sorted-asc::after { content: " \\25B2"; }
#token-table th.sorted-desc::after { content: " \\25BC"; }
#token-table td.str { font-family: ui-monospace, monospace; white-space: pre; }
#token-status { color: #444; font-size: 0.9em; }
"""

SCRIPT = r"""
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('token-data').textContent);
  var n = data.n, columns = data.columns, values = data.values, views = data.views;
  var pageSize = data.page_size;
  var kinds = {};
  columns.forEach(function (c) { kinds[c.name] = c.kind; });
  var strings = values.string || null;
  var ids = values.id || null;
  var lower = null;
  var state = { view: 0, sort: null, desc: false, query: '', whole: false, page: 0 };
  var rows = [];

  var search = document.getElementById('token-search');
  var whole = document.getElementById('token-whole');
  var status = document.getElementById('token-status');
  var head = document.querySelector('#token-table thead tr');
  var body = document.querySelector('#token-table tbody');
  var viewBar = document.getElementById('token-views');

  function missing(v) { return v === null || v === undefined; }

  function shown(name, v) {
    if (missing(v)) { return ''; }
    var kind = kinds[name];
    if (kind === 'string') { return JSON.stringify(v); }
    if (kind === 'bool') { return v ? 'yes' : 'no'; }
    if (name === 'nearest_id' && strings && v >= 0 && v < n && !missing(strings[v])) {
      return v + ' ' + JSON.stringify(strings[v]);
    }
    return String(v);
  }

  function truthy(v) { return !missing(v) && v !== false && v !== 0; }

  function viewRows(view) {
    var out = [], i;
    if (view.ids) {
      var seen = {};
      view.ids.forEach(function (id) { seen[id] = true; });
      for (i = 0; i < n; i++) { if (seen[ids ? ids[i] : i]) { out.push(i); } }
    } else if (view.filter) {
      var col = values[view.filter];
      for (i = 0; i < n; i++) { if (truthy(col[i])) { out.push(i); } }
    } else {
      for (i = 0; i < n; i++) { out.push(i); }
    }
    return out;
  }

  function matches(candidates) {
    var q = state.query;
    if (q === '') { return candidates; }
    var idWanted = /^#?[0-9]+$/.test(q.trim()) ? Number(q.trim().replace('#', '')) : null;
    var out = [], i, k;
    if (!state.whole && strings && lower === null) {
      lower = new Array(n);
      for (i = 0; i < n; i++) { lower[i] = missing(strings[i]) ? '' : strings[i].toLowerCase(); }
    }
    var ql = q.toLowerCase();
    for (k = 0; k < candidates.length; k++) {
      i = candidates[k];
      var hit = idWanted !== null && (ids ? ids[i] : i) === idWanted;
      if (!hit && strings && !missing(strings[i])) {
        hit = state.whole ? strings[i] === q : lower[i].indexOf(ql) >= 0;
      }
      if (hit) { out.push(i); }
    }
    return out;
  }

  function order(list, name, desc) {
    var col = values[name], sign = desc ? -1 : 1;
    list.sort(function (a, b) {
      var x = col[a], y = col[b], mx = missing(x), my = missing(y);
      if (mx || my) { return mx === my ? a - b : (mx ? 1 : -1); }
      if (x < y) { return -sign; }
      if (x > y) { return sign; }
      return a - b;
    });
    return list;
  }

  function recompute() {
    var view = views[state.view];
    rows = matches(viewRows(view));
    var name = state.sort !== null ? state.sort : view.sort;
    var desc = state.sort !== null ? state.desc : !!view.desc;
    if (name) { order(rows, name, desc); }
    state.page = 0;
    render();
  }

  function render() {
    var pages = Math.max(1, Math.ceil(rows.length / pageSize));
    state.page = Math.min(Math.max(state.page, 0), pages - 1);
    var start = state.page * pageSize, stop = Math.min(rows.length, start + pageSize);
    var fragment = document.createDocumentFragment();
    for (var k = start; k < stop; k++) {
      var i = rows[k], tr = document.createElement('tr');
      tr.setAttribute('data-row', String(i));
      columns.forEach(function (c) {
        var td = document.createElement('td');
        var v = values[c.name][i];
        td.textContent = shown(c.name, v);
        td.className = c.kind === 'string' ? 'str' : (c.kind === 'bool' ? '' : 'num');
        tr.appendChild(td);
      });
      fragment.appendChild(tr);
    }
    body.textContent = '';
    body.appendChild(fragment);
    var first = rows.length ? start + 1 : 0;
    status.textContent = 'rows ' + first.toLocaleString('en') + '\u2013' +
      stop.toLocaleString('en') + ' of ' + rows.length.toLocaleString('en') +
      ' (' + views[state.view].label + (state.query ? ', matching the search' : '') +
      '; ' + n.toLocaleString('en') + ' tokens in all), page ' + (state.page + 1) + ' of ' +
      pages;
    status.setAttribute('data-matching', String(rows.length));
    var name = state.sort !== null ? state.sort : views[state.view].sort;
    var desc = state.sort !== null ? state.desc : !!views[state.view].desc;
    Array.prototype.forEach.call(head.children, function (th) {
      var here = th.getAttribute('data-column') === name;
      th.className = here ? (desc ? 'sorted-desc' : 'sorted-asc') : '';
    });
    Array.prototype.forEach.call(viewBar.children, function (b, j) {
      b.className = j === state.view ? 'active' : '';
    });
  }

  columns.forEach(function (c) {
    var th = document.createElement('th');
    th.textContent = c.name;
    th.setAttribute('data-column', c.name);
    th.title = 'sort by ' + c.name + ' (click again: the other direction)';
    th.addEventListener('click', function () {
      var current = state.sort !== null ? state.sort : views[state.view].sort;
      var desc = state.sort !== null ? state.desc : !!views[state.view].desc;
      state.desc = current === c.name ? !desc : false;
      state.sort = c.name;
      recompute();
    });
    head.appendChild(th);
  });
  views.forEach(function (view, j) {
    var b = document.createElement('button');
    b.type = 'button';
    b.textContent = view.label;
    b.setAttribute('data-view', String(j));
    b.addEventListener('click', function () {
      state.view = j;
      state.sort = null;
      recompute();
    });
    viewBar.appendChild(b);
  });
  search.addEventListener('input', function () { state.query = search.value; recompute(); });
  whole.addEventListener('change', function () { state.whole = whole.checked; recompute(); });
  document.getElementById('token-prev').addEventListener('click', function () {
    state.page -= 1; render();
  });
  document.getElementById('token-next').addEventListener('click', function () {
    state.page += 1; render();
  });
  recompute();
})();
"""
