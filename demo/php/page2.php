<?php
require __DIR__ . '/common.php';
session_start();
$user = demo_require_login();
demo_hello_page($user, 'Page 2');
