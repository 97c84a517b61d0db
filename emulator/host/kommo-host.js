// A stand-in for Kommo's frontend: enough of its widget runtime for Rulebook's script.js to run as it
// would inside an account (kommo-platform.md §2). Everything a test may want to check is recorded in
// window.__host.
(function () {
  'use strict';

  var query = new URLSearchParams(window.location.search);
  // Kommo's advanced-settings page of a widget lives at /settings/widgets/<code>/ (where a card's
  // link to the debugger goes). Links carry no query string, so that page takes the identity the
  // last page of this tab was opened with.
  var widgetPage = /^\/settings\/widgets\/([^/]+)\/?$/.exec(window.location.pathname);
  try {
    if (widgetPage && !window.location.search) {
      query = new URLSearchParams(window.sessionStorage.getItem('kommo-host:query') || '');
      query.set('page', 'advanced_settings');
      query.set('widget_code', decodeURIComponent(widgetPage[1]));
    } else if (window.location.search) {
      window.sessionStorage.setItem('kommo-host:query', window.location.search);
    }
  } catch (e) {
    // no storage: the sandbox identity
  }
  var host = (window.__host = { log: [], tokensMinted: 0, dpSaved: null, errors: [], ready: false });

  // Kommo's dark theme is a class on <body> with its colours as CSS variables; `?theme=dark` turns it on.
  if (query.get('theme') === 'dark') {
    document.addEventListener('DOMContentLoaded', function () {
      document.body.classList.add('page-dark-theme');
    });
    if (document.body) document.body.classList.add('page-dark-theme');
  }

  requirejs.config({ paths: { jquery: '/vendor/jquery' } });
  requirejs.onError = function (err) {
    host.errors.push(String(err));
  };

  function fetchJson(url) {
    return fetch(url).then(function (r) {
      if (!r.ok) throw new Error(url + ' answered ' + r.status);
      return r.json();
    });
  }

  // Each identity field can be overridden by a query parameter of the same name.
  function identityFrom(config) {
    var id = Object.assign({}, config);
    ['subdomain', 'client_uuid', 'client_secret', 'audience', 'widget_code', 'lang'].forEach(function (k) {
      if (query.has(k)) id[k] = query.get(k);
    });
    ['account_id', 'user_id'].forEach(function (k) {
      if (query.has(k)) id[k] = Number(query.get(k));
    });
    if (query.has('is_admin')) id.is_admin = query.get('is_admin') === 'true';
    id.settings = Object.assign({}, config.settings);
    if (query.has('backend_url')) id.settings.backend_url = query.get('backend_url');
    return id;
  }

  function base64url(bytes) {
    var s = '';
    bytes.forEach(function (b) {
      s += String.fromCharCode(b);
    });
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // A disposable token as Kommo mints it: HS256 with the integration's secret key (§6.2).
  function mintDisposableToken(id) {
    var now = Math.floor(Date.now() / 1000);
    var enc = new TextEncoder();
    var header = { alg: 'HS256', typ: 'JWT' };
    var claims = {
      iss: 'https://' + id.subdomain + '.kommo.com',
      aud: id.audience,
      jti: crypto.randomUUID(),
      iat: now,
      nbf: now,
      exp: now + 1800,
      account_id: id.account_id,
      subdomain: id.subdomain,
      client_uuid: id.client_uuid,
      user_id: id.user_id,
      is_admin: id.is_admin,
    };
    var signingInput =
      base64url(enc.encode(JSON.stringify(header))) + '.' + base64url(enc.encode(JSON.stringify(claims)));
    return crypto.subtle
      .importKey('raw', enc.encode(id.client_secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
      .then(function (key) {
        return crypto.subtle.sign('HMAC', key, enc.encode(signingInput));
      })
      .then(function (sig) {
        host.tokensMinted += 1;
        return signingInput + '.' + base64url(new Uint8Array(sig));
      });
  }

  function start($, WidgetModule, id, manifest, lang) {
    var area = query.get('page') || 'advanced_settings';
    var leadId = Number(query.get('lead_id') || 5001);
    // The contact or company of a ccard/comcard page (`?entity_id=`).
    var cards = { lcard: 'leads', ccard: 'contacts', comcard: 'companies' };
    var cardId = area === 'lcard' ? leadId : Number(query.get('entity_id') || 0);
    var holder = document.getElementById('page_holder');
    document.getElementById('host-account').textContent = id.subdomain + '.kommo.com';
    $('#host-nav a[data-area="' + area + '"]').addClass('active');

    var areaNames = {
      advanced_settings: 'advanced-settings:' + id.widget_code,
      lcard: 'leads_card',
      llist: 'leads',
      clist: 'contacts',
      digital_pipeline: 'digital_pipeline',
      ccard: 'contacts_card',
      comcard: 'companies_card',
      salesbot_designer: 'salesbot_designer',
    };
    var APP = (window.APP = window.AMOCRM = {
      lang_id: id.lang,
      data: { current_card: cards[area] ? { id: cardId } : null, current_view: null },
      constant: function (name) {
        var c = {
          user: { id: id.user_id, name: 'Sandbox User', is_admin: id.is_admin ? 'Y' : 'N' },
          account: { id: id.account_id, subdomain: id.subdomain },
          user_rights: { is_admin: id.is_admin },
        };
        return c[name];
      },
      getBaseEntity: function () {
        return cards[area] || null;
      },
      isCard: function () {
        return Boolean(cards[area]);
      },
      getWidgetsArea: function () {
        return areaNames[area];
      },
      notifications: {
        show_message: function (m) { host.log.push('notify:' + JSON.stringify(m)); },
        show_message_error: function (m) { host.log.push('notify_error:' + JSON.stringify(m)); },
        add_error: function (m) { host.log.push('notify_error:' + JSON.stringify(m)); },
      },
    });

    var params = Object.assign(
      {
        widget_code: id.widget_code,
        path: window.location.origin + '/widget',
        images_path: window.location.origin + '/widget/images',
        version: manifest.widget.version,
        status: 'installed',
        active: 'Y',
        widget_active: 'Y',
        oauth_client_uuid: id.client_uuid,
        id: 1,
      },
      id.settings
    );

    var base = {
      params: params,
      langs: lang,
      get_settings: function () { return Object.assign({}, params); },
      get_version: function () { return manifest.widget.version; },
      get_install_status: function () { return 'installed'; },
      set_status: function (s) { host.log.push('set_status:' + s); },
      set_settings: function (s) { Object.assign(params, s); },
      i18n: function (key) { return lang[key]; },
      system: function () {
        return { area: areaNames[area], amouser_id: id.user_id, subdomain: id.subdomain, domain: 'kommo.com' };
      },
      // The rows ticked in a list, as Kommo reports them to a widget's `*.selected` callback (on the
      // contacts list, a company's row says `company`).
      list_selected: function () {
        var selected = $('.list-row__checkbox:checked').map(function () {
          return { id: Number(this.value), type: this.getAttribute('data-type') || 'lead' };
        }).get();
        return { selected: selected, summary: { items: selected.length } };
      },
      // The right panel of a card: Kommo renders a caption and the given body for the widget.
      render_template: function (opts) {
        var code = id.widget_code;
        var caption = (opts && opts.caption) || {};
        var block = $('<div class="card-widgets__widget card-widgets__widget-' + code + '"></div>').attr('data-code', code);
        block.append($('<div class="card-widgets__widget__caption"></div>').addClass(caption.class_name || '').text(lang.widget.name));
        block.append($('<div class="card-widgets__widget__body"></div>').html((opts && opts.body) || ''));
        $('#widgets_block').append(block);
        return block;
      },
      $authorizedAjax: function (opts) {
        var d = $.Deferred();
        mintDisposableToken(id).then(
          function (token) {
            var o = Object.assign({}, opts);
            o.headers = Object.assign({}, opts.headers, { 'X-Auth-Token': token });
            $.ajax(o)
              .done(function () { d.resolve.apply(d, arguments); })
              .fail(function () { d.reject.apply(d, arguments); });
          },
          function (err) {
            d.reject({ status: 0, responseText: String(err) }, 'error', String(err));
          }
        );
        return d.promise();
      },
    };

    // Kommo instantiates the module's constructor with `this` bound to the widget object.
    var widget = Object.create(base);
    WidgetModule.call(widget);
    host.widget = widget;

    function call(name) {
      var path = name.split('.');
      var fn = path.reduce(function (o, k) { return o && o[k]; }, widget.callbacks);
      host.log.push(name);
      var args = Array.prototype.slice.call(arguments, 1);
      return typeof fn === 'function' ? fn.apply(widget, args) : undefined;
    }

    function lifecycle() {
      // Each callback must return true, or Kommo does not run the next one.
      return call('render') === true && call('init') === true && call('bind_actions') === true;
    }

    // A list's header checkbox ticks every row, as Kommo's does.
    function bindSelectAll() {
      $('.list-row__checkbox-all').on('change', function () {
        $('.list-row__checkbox').prop('checked', this.checked);
      });
    }

    // Leaving the page: Kommo announces the page change, then calls destroy.
    host.leave = function () {
      $(document).trigger('page:changed');
      call('destroy');
      holder.innerHTML = '';
    };

    if (area === 'advanced_settings') {
      holder.innerHTML =
        '<div class="settings-page"><h1 class="settings-title">' + lang.advanced.title + '</h1>' +
        '<div id="work-area-' + id.widget_code + '" class="work-area"></div></div>';
      if (lifecycle()) call('advancedSettings');
    } else if (area === 'lcard') {
      holder.innerHTML =
        '<div class="card-holder"><div id="card_fields" class="card-fields"><h2>Lead #' + leadId + '</h2>' +
        '<p>Sandbox lead</p></div><div id="widgets_block" class="card-widgets"></div></div>';
      lifecycle();
    } else if (area === 'ccard' || area === 'comcard') {
      // A contact or company card: its fields on the left, the widgets' right panel.
      var what = area === 'ccard' ? 'Contact' : 'Company';
      holder.innerHTML =
        '<div class="card-holder"><div id="card_fields" class="card-fields"><h2>' + what + ' #' + cardId + '</h2>' +
        '<p>Sandbox ' + what.toLowerCase() + '</p></div><div id="widgets_block" class="card-widgets"></div></div>';
      lifecycle();
    } else if (area === 'salesbot_designer') {
      // The Salesbot designer with our block's settings modal open: Kommo renders an input per setting
      // of the handler (manifest `salesbot_designer`), calls `salesbotDesignerSettings($body, …)`, and
      // on Save calls `onSalesbotDesignerSave(handler_code, params)` for the bot's steps (a JSON string).
      var handlers = manifest.salesbot_designer || {};
      var handlerCode = query.get('handler') || Object.keys(handlers).filter(function (k) { return k !== 'logo'; })[0];
      var handler = handlers[handlerCode] || { settings: {} };
      var label = function (key) {
        return key.split('.').reduce(function (o, k) { return o && o[k]; }, lang) || key;
      };
      var inputs = Object.keys(handler.settings || {}).map(function (key) {
        var setting = handler.settings[key];
        var value = query.get('sb_' + key) || setting.default_value || '';
        return '<div class="form-group"><label>' + label(setting.name) + '</label><input type="text" name="' + key +
          '" value="' + String(value).replace(/"/g, '&quot;') + '"></div>';
      }).join('');
      holder.innerHTML =
        '<div class="salesbot-designer"><div class="sb-canvas"><div class="sb-step">Start</div><div class="sb-step">Send message</div>' +
        '<div class="sb-step sb-step_widget">' + lang.widget.name + '</div></div>' +
        '<div class="modal salesbot-designer__modal" role="dialog" aria-label="' + label(handler.name) + '"><div class="modal-body">' +
        '<h2 class="sb-modal__title">' + label(handler.name) + '</h2>' +
        '<div class="sb-widget-settings" data-handler="' + handlerCode + '">' + inputs + '</div>' +
        '<button type="button" class="button-input button-input_blue js-salesbot-save">Save</button></div></div></div>';
      host.salesbotSaved = null;
      if (lifecycle()) {
        host.salesbotExits = call('salesbotDesignerSettings', $('.sb-widget-settings'), function () {}, {});
      }
      $('.js-salesbot-save').on('click', function () {
        var params = {};
        $('.sb-widget-settings input[name]').each(function () { params[this.name] = this.value; });
        var steps = call('onSalesbotDesignerSave', handlerCode, params);
        host.salesbotSaved = { handler: handlerCode, params: params, steps: typeof steps === 'string' ? steps : null };
      });
    } else if (area === 'llist') {
      var ids = (query.get('lead_ids') || '5001,5002,5003').split(',').map(Number);
      holder.innerHTML =
        '<div class="list-page"><div class="list-actions"><button type="button" class="button-input" id="list-more">' +
        'More…</button><ul id="list-more-menu" class="list-menu" hidden><li><a href="#" data-widget="' + id.widget_code +
        '">' + lang.widget.name + '</a></li></ul></div><table class="list-table"><thead><tr><th>' +
        '<input type="checkbox" class="list-row__checkbox-all" aria-label="Select all"></th><th>Name</th></tr></thead><tbody>' +
        ids.map(function (leadId) {
          return '<tr class="list-row"><td><input type="checkbox" class="list-row__checkbox" value="' + leadId +
            '" aria-label="Lead #' + leadId + '"></td><td>Lead #' + leadId + '</td></tr>';
        }).join('') + '</tbody></table></div>';
      $('#list-more').on('click', function () { $('#list-more-menu').prop('hidden', false); });
      // Choosing the widget in the menu of a list with ticked rows calls `leads.selected`.
      $('#list-more-menu a').on('click', function (e) {
        e.preventDefault();
        $('#list-more-menu').prop('hidden', true);
        call('leads.selected');
      });
      bindSelectAll();
      lifecycle();
    } else if (area === 'clist') {
      // Kommo's contacts list shows contacts and companies together; `contact_ids` and `company_ids`
      // name the rows.
      var listed = function (name, fallback, type, label) {
        return (query.get(name) || fallback).split(',').filter(Boolean).map(function (rowId) {
          return '<tr class="list-row"><td><input type="checkbox" class="list-row__checkbox" data-type="' + type +
            '" value="' + Number(rowId) + '" aria-label="' + label + ' #' + Number(rowId) + '"></td><td>' + label +
            ' #' + Number(rowId) + '</td></tr>';
        }).join('');
      };
      holder.innerHTML =
        '<div class="list-page"><div class="list-actions"><button type="button" class="button-input" id="list-more">' +
        'More…</button><ul id="list-more-menu" class="list-menu" hidden><li><a href="#" data-widget="' + id.widget_code +
        '">' + lang.widget.name + '</a></li></ul></div><table class="list-table"><thead><tr><th>' +
        '<input type="checkbox" class="list-row__checkbox-all" aria-label="Select all"></th><th>Name</th></tr></thead><tbody>' +
        listed('contact_ids', '6001,6002', 'contact', 'Contact') + listed('company_ids', '', 'company', 'Company') +
        '</tbody></table></div>';
      $('#list-more').on('click', function () { $('#list-more-menu').prop('hidden', false); });
      // Choosing the widget in the menu of the contacts list calls `contacts.selected`.
      $('#list-more-menu a').on('click', function (e) {
        e.preventDefault();
        $('#list-more-menu').prop('hidden', true);
        call('contacts.selected');
      });
      bindSelectAll();
      lifecycle();
    } else if (area === 'digital_pipeline') {
      var dp = (manifest.dp && manifest.dp.settings) || {};
      var fields = Object.keys(dp)
        .map(function (key) {
          return '<div class="form-group"><label>' + key + '</label><input type="text" name="' + key + '" value="' +
            (query.get('dp_' + key) || '') + '"></div>';
        })
        .join('');
      holder.innerHTML =
        '<div class="dp-board"><div class="dp-stage">Incoming</div><div class="dp-stage">Qualified</div>' +
        '<div class="dp-stage">Won</div></div>' +
        '<div class="modal digital-pipeline__modal"><div class="modal-body">' +
        '<div class="dp-modal__head"><div class="digital-pipeline__short-task_widget-style_' + id.widget_code + '">' +
        lang.dp.title + '</div></div>' +
        '<div data-action="send_widget_hook" class="dp-modal__form">' + fields +
        '<button type="button" class="button-input js-trigger-save">Save</button></div></div></div>';
      $('.js-trigger-save').on('click', function () {
        var saved = {};
        $('[data-action=send_widget_hook] input[name]').each(function () { saved[this.name] = this.value; });
        host.dpSaved = saved;
      });
      if (lifecycle()) call('dpSettings');
    }
    host.ready = true;
  }

  Promise.all([fetchJson('/host/config.json'), fetchJson('/widget/manifest.json')])
    .then(function (loaded) {
      var id = identityFrom(loaded[0]);
      var manifest = loaded[1];
      return fetchJson('/widget/i18n/' + id.lang + '.json').then(function (lang) {
        requirejs(['jquery', '/widget/script.js?v=' + encodeURIComponent(manifest.widget.version)], function ($, WidgetModule) {
          try {
            start($, WidgetModule, id, manifest, lang);
          } catch (e) {
            host.errors.push(String(e && e.stack || e));
          }
        });
      });
    })
    .catch(function (e) {
      host.errors.push(String(e));
      document.getElementById('page_holder').textContent = 'The sandbox could not start: ' + e;
    });
})();
