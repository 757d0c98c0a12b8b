@echo off
rem Opens a command prompt in which `kakehashi` works (no change to the user's PATH).
chcp 932 >nul
set "PATH=%~dp0venv\Scripts;%PATH%"
cd /d "%USERPROFILE%"
echo かけはし コマンド: kakehashi --help で使い方を表示します。
cmd /k kakehashi --version
