// Rulebook's entry point in Kommo: an AMD module whose constructor Kommo runs with `this` bound to the
// widget object (kommo-platform.md §2). It loads the Yew app (wasm) from the widget's own folder and
// mounts it where Kommo gives us room; every backend call the app makes goes through a bridge built
// on `$authorizedAjax`, so the app never sees a Kommo credential.
define(['jquery'], function ($) {
  'use strict';

  // Replaced by `cargo xtask package --backend-url …`; the widget setting `backend_url` overrides it.
  var PACKAGED_BACKEND_URL = '__RULEBOOK_BACKEND_URL__';
  var APP_JS = 'app/rulebook-widget.js';
  var APP_WASM = 'app/rulebook-widget_bg.wasm';
  var APP_CSS = 'app/style.css';
  var DP_SETTING_KEYS = ['rule_id'];
  // The Salesbot step's handler (manifest `salesbot_designer`) and the setting that holds the rule.
  var SALESBOT_HANDLER = 'run_rule';
  var SALESBOT_SETTING_KEYS = ['rule_id'];
  // Which rule's runs the advanced-settings page opens on, set by a card's link just before it leaves.
  var OPEN_RUNS_KEY = 'rulebook:open-runs-of';
  // The card areas Kommo reports (APP.getWidgetsArea()) and our locations for them.
  var CARD_AREAS = { leads_card: 'lcard', contacts_card: 'ccard', companies_card: 'comcard' };

  return function () {
    var self = this;
    var mounted = [];
    var appModule = null;

    // A URL inside the uploaded widget folder, cache-busted by the widget version.
    function assetUrl(relative) {
      return String(self.params.path).replace(/\/+$/, '') + '/' + relative + '?v=' + encodeURIComponent(self.get_version());
    }

    // Loads the wasm-bindgen glue and the wasm as bytes, both at once: instantiating from bytes
    // works whatever MIME type the host serves `.wasm` with.
    function loadApp() {
      if (!appModule) {
        var bytes = fetch(assetUrl(APP_WASM)).then(function (r) {
          if (!r.ok) throw new Error('the app could not be downloaded (HTTP ' + r.status + ')');
          return r.arrayBuffer();
        });
        appModule = Promise.all([import(assetUrl(APP_JS)), bytes]).then(function (loaded) {
          var glue = loaded[0];
          return Promise.resolve(glue.default({ module_or_path: loaded[1] })).then(function () {
            return glue;
          });
        });
        appModule.catch(function () {
          appModule = null; // let a later attempt retry
        });
      }
      return appModule;
    }

    // Our stylesheet, added once per page; every rule in it is scoped under .rb-root.
    function loadStyles() {
      if (document.querySelector('link[data-rulebook-css]')) return;
      var link = document.createElement('link');
      link.rel = 'stylesheet';
      link.href = assetUrl(APP_CSS);
      link.setAttribute('data-rulebook-css', '');
      document.head.appendChild(link);
    }

    function backendUrl() {
      var configured = (self.get_settings() || {}).backend_url;
      var url = configured && String(configured).trim() ? String(configured).trim() : PACKAGED_BACKEND_URL;
      return url.replace(/\/+$/, '');
    }

    // The only way out of the wasm. Resolves to {status, body} for any HTTP answer, {status: 0} when
    // there was none. `dpForm` is the form whose named inputs hold our settings (a DP action's, or
    // our Salesbot step's).
    function makeBridge(dpForm) {
      return {
        request: function (method, path, body) {
          return new Promise(function (resolve) {
            var options = {
              url: backendUrl() + path,
              method: method,
              type: method,
              dataType: 'text',
              processData: false,
            };
            if (body !== undefined && body !== null) {
              options.data = body;
              options.contentType = 'application/json';
            }
            self
              .$authorizedAjax(options)
              .done(function (_data, _status, xhr) {
                resolve({ status: xhr.status, body: xhr.responseText || '' });
              })
              .fail(function (xhr) {
                resolve({ status: (xhr && xhr.status) || 0, body: (xhr && xhr.responseText) || '' });
              });
          });
        },
        setDpSetting: function (key, value) {
          if (dpForm) dpForm.find('input[name="' + key + '"]').val(value).trigger('change');
        },
        getDpSetting: function (key) {
          if (!dpForm) return undefined;
          var input = dpForm.find('input[name="' + key + '"]');
          return input.length ? String(input.val()) : undefined;
        },
        openRunsOf: function (ruleId) {
          try {
            window.sessionStorage.setItem(OPEN_RUNS_KEY, String(ruleId));
          } catch (e) {
            // storage disabled: the page opens on the rules list
          }
        },
      };
    }

    // The rule a card's link asked the advanced-settings page to open on, once.
    function takeOpenRunsOf() {
      try {
        var value = window.sessionStorage.getItem(OPEN_RUNS_KEY);
        window.sessionStorage.removeItem(OPEN_RUNS_KEY);
        var id = Number(value);
        return value && id > 0 ? id : null;
      } catch (e) {
        return null;
      }
    }

    function context(location, selection) {
      var app = window.APP || window.AMOCRM || {};
      var card = app.data && app.data.current_card;
      var isCard = location === 'lcard' || location === 'ccard' || location === 'comcard';
      var picked = selection || {};
      return {
        location: location,
        widget_code: self.params.widget_code,
        lead_id: location === 'lcard' && card && card.id ? Number(card.id) : null,
        entity_id: isCard && card && card.id ? Number(card.id) : null,
        // Kommo's advanced-settings page of the widget (where its debugger is), on the account's own
        // host: the way out of a card to a rule's runs.
        advanced_settings_url: '/settings/widgets/' + encodeURIComponent(self.params.widget_code) + '/',
        open_runs_of: location === 'advanced_settings' ? takeOpenRunsOf() : null,
        selected_ids: picked.ids || [],
        selected_company_ids: picked.companyIds || [],
        lang: app.lang_id || 'en',
        messages: (typeof self.i18n === 'function' && self.i18n('ui')) || {},
      };
    }

    function mount(element, location, dpForm, selection) {
      if (!element) return;
      loadStyles();
      var holder = document.createElement('div');
      holder.className = 'rulebook-app';
      element.appendChild(holder);
      loadApp()
        .then(function (glue) {
          mounted.push(glue.mount(holder, JSON.stringify(context(location, selection)), makeBridge(dpForm)));
        })
        .catch(function (err) {
          holder.setAttribute('role', 'alert');
          holder.className = 'rulebook-app rb-error';
          holder.textContent = 'Rulebook could not start: ' + (err && err.message ? err.message : err);
        });
    }

    function destroyAll() {
      mounted.splice(0).forEach(function (app) {
        try {
          app.destroy();
          app.free();
        } catch (e) {
          // already gone with its page
        }
      });
      $('.rulebook-app').remove();
      $('.rulebook-dialog').remove();
    }

    // The action modal of a digital-pipeline stage (§3.3): Kommo renders one input per dp setting; we
    // hide ours and let the app write into them.
    function dpForm() {
      var code = self.params.widget_code;
      var form = $('.digital-pipeline__short-task_widget-style_' + code).parent().parent().find('[data-action=send_widget_hook]');
      if (!form.length) form = $('button.js-trigger-save').closest('[data-action=send_widget_hook]');
      return form;
    }

    // A dialog of our own over a list page (`llist`, `clist`), for running a rule on the ticked rows;
    // Kommo's colours (dark theme included) come from its CSS variables. Escape or × closes it.
    function openListDialog(location, selection) {
      $('.rulebook-dialog').remove();
      var texts = (typeof self.i18n === 'function' && self.i18n('ui')) || {};
      var overlay = $('<div class="rulebook-dialog" role="dialog" aria-modal="true"></div>')
        .attr('aria-label', (texts.bulk_dialog || 'Rulebook'))
        .css({
          position: 'fixed', inset: 0, background: 'rgba(20, 30, 40, .35)', zIndex: 10000,
          display: 'flex', alignItems: 'flex-start', justifyContent: 'center', paddingTop: '80px',
        });
      var box = $('<div class="rulebook-dialog__box"></div>').css({
        background: 'var(--background-color-primary, #fff)', color: 'var(--text-color-primary, #262626)',
        minWidth: '420px', maxWidth: '640px', maxHeight: 'calc(100vh - 120px)', overflow: 'auto',
        padding: '20px', borderRadius: '4px', boxShadow: '0 4px 16px rgba(0, 0, 0, .2)',
      });
      var close = $('<button type="button" class="rulebook-dialog__close">×</button>')
        .attr('aria-label', texts.bulk_close || 'Close')
        .css({ float: 'right', border: 0, background: 'none', color: 'inherit', fontSize: '20px', cursor: 'pointer' });
      function shut() {
        $(document).off('keydown.rulebook-dialog');
        destroyAll();
        overlay.remove();
      }
      close.on('click', shut);
      $(document).off('keydown.rulebook-dialog').on('keydown.rulebook-dialog', function (e) {
        if (e.key === 'Escape') shut();
      });
      overlay.append(box.append(close));
      $('body').append(overlay);
      close.trigger('focus');
      mount(box.get(0), location, null, selection);
    }

    // The ticked rows as Kommo reports them (`self.list_selected()`); on the contacts list, companies
    // are ticked beside contacts and carry their own type.
    function selection() {
      var picked = (typeof self.list_selected === 'function' && self.list_selected()) || {};
      var ids = [];
      var companyIds = [];
      (picked.selected || []).forEach(function (row) {
        var id = Number(row && row.id);
        if (!(id > 0)) return;
        var type = String((row && row.type) || '').toLowerCase();
        if (type === 'company' || type === 'companies' || type === '3') companyIds.push(id);
        else ids.push(id);
      });
      return { ids: ids, companyIds: companyIds };
    }

    this.callbacks = {
      render: function () {
        var area = window.APP && typeof APP.getWidgetsArea === 'function' ? APP.getWidgetsArea() : '';
        var location = CARD_AREAS[area];
        if (location) {
          // The right panel of a lead, contact or company card.
          var holderId = 'rulebook-' + location + '-' + self.params.widget_code;
          self.render_template({
            caption: { class_name: 'rulebook-caption' },
            body: '<div class="rulebook-card rulebook-' + location + '" id="' + holderId + '"></div>',
            render: '',
          });
          mount(document.getElementById(holderId), location);
        }
        return true;
      },
      init: function () {
        return true;
      },
      bind_actions: function () {
        $(document).off('page:changed.rulebook').on('page:changed.rulebook', destroyAll);
        return true;
      },
      settings: function () {
        return true;
      },
      onSave: function () {
        return true;
      },
      destroy: function () {
        destroyAll();
      },
      advancedSettings: function () {
        mount(document.getElementById('work-area-' + self.params.widget_code), 'advanced_settings');
        return true;
      },
      leads: {
        selected: function () {
          var picked = selection();
          openListDialog('llist', { ids: picked.ids.concat(picked.companyIds) });
          return true;
        },
      },
      contacts: {
        selected: function () {
          openListDialog('clist', selection());
          return true;
        },
      },
      dpSettings: function () {
        var form = dpForm();
        DP_SETTING_KEYS.forEach(function (key) {
          form.find('input[name="' + key + '"]').closest('.form-group').addClass('hidden');
        });
        var root = document.createElement('div');
        root.className = 'rulebook-dp';
        if (form.length) form.get(0).insertBefore(root, form.get(0).firstChild);
        mount(root, 'digital_pipeline', form);
        return true;
      },
      // Our step in the Salesbot designer (§2.2): Kommo renders an input per setting of the handler
      // into $body; we hide ours, mount the rule picker, which writes the chosen rule's id into it,
      // and declare the one way out of the step.
      salesbotDesignerSettings: function ($body) {
        var body = $body && $body.jquery ? $body : $($body);
        SALESBOT_SETTING_KEYS.forEach(function (key) {
          body.find('input[name="' + key + '"]').closest('.form-group').addClass('hidden');
        });
        var root = document.createElement('div');
        root.className = 'rulebook-salesbot';
        if (body.length) body.get(0).insertBefore(root, body.get(0).firstChild);
        mount(root, 'salesbot_designer', body);
        return { exits: [{ code: 'next', title: String((self.i18n('salesbot') || {}).next || 'Next') }] };
      },
      // The bot's steps for our block, as a JSON string: ask our backend to run the chosen rule on
      // the bot's entity (Kommo adds the entity and a bot token to the request), then go on.
      onSalesbotDesignerSave: function (handlerCode, params) {
        return JSON.stringify(salesbotSteps(handlerCode, params));
      },
    };

    // The steps of our Salesbot block: step 0 posts to `/hooks/salesbot` with the rule's id and goes
    // to step 1, which leaves the block by its one exit (the `exits` handler and exit codes follow
    // public widgets' use; Kommo's documentation shows `widget_request` and `goto` only).
    function salesbotSteps(handlerCode, params) {
      var ruleId = String((params && params.rule_id) || '').trim();
      var leave = { question: [{ handler: 'exits', params: { value: 'next' } }] };
      // No rule chosen (or not our handler): the block only passes the bot on.
      if (handlerCode !== SALESBOT_HANDLER || !/^[0-9]+$/.test(ruleId)) return [leave];
      return [
        {
          question: [
            { handler: 'widget_request', params: { url: backendUrl() + '/hooks/salesbot', data: { rule_id: ruleId } } },
            { handler: 'goto', params: { type: 'question', step: 1 } },
          ],
        },
        leave,
      ];
    }
    return this;
  };
});
