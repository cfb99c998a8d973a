// Swagger UI over this server's own OpenAPI document. "Authorize" takes a bearer token; a token
// given to the dashboard in this browser tab (sessionStorage, same origin) is used already.
window.addEventListener('load', function () {
  'use strict';
  var token = sessionStorage.getItem('lm.token');
  var ui = SwaggerUIBundle({
    url: '../openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    onComplete: function () {
      if (token) {
        ui.preauthorizeApiKey('bearerAuth', token);
      }
    }
  });
  window.ui = ui;
});
